"""quickgaze: does this network look where people look?

EigenCAM maps of FPN detectors compared with human saliency (SALICON).
The science lives here as plain functions; the Snakemake workflow in the
repository root only wires them to files.
"""

__version__ = "0.2.0"
