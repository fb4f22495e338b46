"""Datasets: where a study's images and ground truth live (:mod:`.layout`), the
embedded demo (:mod:`.demo`) and downloaded archives (:mod:`.archives`). No torch.
"""
