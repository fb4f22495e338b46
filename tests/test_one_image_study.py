"""A one-image study through the real workflow (issue 29.8): no winner is declared,
and the comparison tables and the methods page say that its centre bias could not
be held out."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import FAST_VARIANT, snakemake, write_config

NOT_HELD_OUT = ("not held out: 1 image with fixations, so the centre bias is fitted on the "
                "image it scores")


@pytest.mark.slow
def test_one_image_study_declares_no_winner_and_says_its_centre_bias_is_not_held_out(tmp_path):
    # The format is named: one demo image's integer fixations fit either reading.
    config = write_config(tmp_path, {"dataset": {"demo": {"n_images": 1},
                                                 "fixation_format": "salicon2015_json"},
                                     "ceiling": {"names": ["humans"]},
                                     "ranking": {"bootstrap": 200, "n": 1}},
                          replace_variants={"fast": FAST_VARIANT})
    snakemake(tmp_path, "--configfile", str(config))
    cmp = tmp_path / "results" / "demo" / "comparison"
    paired = pd.read_csv(cmp / "paired.csv")
    # one image: one pair per metric (none for sAUC, which needs other images)
    assert len(paired) and (paired["n_pairs"] <= 1).all() and (paired["n_pairs"] == 1).any()
    assert (paired["mean_diff"] != 0).any()  # the pairs differ, and still no winner
    assert paired["better"].isna().all()  # empty in the CSV
    share = pd.read_csv(cmp / "share_of_gap.csv")
    assert len(share) and (share["n"] == 1).all() and (share["ci_method"] == "point").all()
    for name in ("paired.csv", "means.csv", "share_of_gap.csv"):
        assert set(pd.read_csv(cmp / name)["centre_bias_fit"]) == {NOT_HELD_OUT}, name
    assert f"<p>centre bias: {NOT_HELD_OUT}</p>" in (cmp / "methods.html").read_text()
