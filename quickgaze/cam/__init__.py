"""Class-activation maps: networks and weights, typed variants, the EigenCAM
engine (FPN features, fused levels, PCA, sign) and grad-cam's methods.
"""
