"""Maps on pixel grids: resampling a CAM to an image and Gaussian smoothing.
Numpy and scipy only (no torch).
"""
