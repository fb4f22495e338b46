"""What a study reports: per-image tables, rankings and comparisons, statistics,
figures, categories and the methods page. Reads records; never imports
:mod:`quickgaze.cam` or a stage job.
"""
