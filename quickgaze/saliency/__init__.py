"""Human saliency and how a map is scored against it: fixations and their maps,
metrics, baselines, fixation statistics and the human ceiling. No torch.
"""
