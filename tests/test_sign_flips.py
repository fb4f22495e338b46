"""sign_flips.csv counts flips against the notebook's sign, and only where that sign exists."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quickgaze.report.tables import sign_flip_table


def test_images_without_a_reference_sign_are_counted_apart():
    ok = ["ok"] * 5
    tables = {
        "aligned": pd.DataFrame({"status": ok, "sign_flipped": [True, False, True, None, None]}),
        "fine": pd.DataFrame({"status": ok, "sign_flipped": [None] * 5}),
        "centre_bias": pd.DataFrame({"status": ok, "sign_flipped": [None] * 5}),
    }
    kinds = {"aligned": "variant", "fine": "variant", "centre_bias": "baseline"}
    flips = sign_flip_table(tables, kinds, {"aligned": "mean_activation",
                                            "fine": "mean_activation"}).set_index("name")
    assert flips.loc["aligned", ["n", "n_unknown", "n_flipped"]].tolist() == [3, 2, 2]
    assert flips.loc["aligned", "share_flipped"] == 2 / 3  # not 2 / 5: unknown is not "kept"
    assert flips.loc["fine", "n"] == 0 and np.isnan(flips.loc["fine", "share_flipped"])
    assert np.isnan(flips.loc["centre_bias", "share_flipped"])
