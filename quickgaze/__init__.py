"""quickgaze: does this network look where people look?

EigenCAM maps of FPN detectors compared with human saliency (SALICON).
The science lives here as plain functions; the Snakemake workflow in the
repository root only wires them to files.
"""

__version__ = "0.3.0"

__all__ = ["CamMapper", "cam_map", "score"]


def __getattr__(name: str):
    # The one-call API, imported on first use: the workflow's jobs import
    # quickgaze.<module> and should not pay for it.
    if name in __all__:
        from quickgaze import api

        return getattr(api, name)
    raise AttributeError(f"module 'quickgaze' has no attribute '{name}'")
