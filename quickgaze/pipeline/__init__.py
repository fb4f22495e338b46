"""The workflow's side of quickgaze: what each stage depends on
(:mod:`.stages`), provenance, freshness, batches, and one module per stage
job. Imported by ``workflow_scripts/``; everything below it is plain science.
"""
