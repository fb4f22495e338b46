"""Outputs made from untrained weights say so where a reader sees the number (issue 28,
item 1): the headline figure's title, headline.md/.tex, means.csv and the other
comparison tables, the methods page, the report's front page and the CLI. One small
real demo run (3 images, FAST_VARIANT, no ceilings) and its real report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from quickgaze.io.records import UNTRAINED_LABEL
from quickgaze.report.tables import untrained_note

from conftest import FAST_VARIANT, snakemake, write_config

COMMAND = Path(sys.executable).with_name("quickgaze")
NOTE = untrained_note(["fast"])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("labels")
    write_config(workdir, {"dataset": {"demo": {"n_images": 3}}, "batch_size": 3,
                           "ceiling": {"names": []}, "ranking": {"n": 1, "bootstrap": 200}},
                 replace_variants={"fast": FAST_VARIANT})
    snakemake(workdir)
    snakemake(workdir, "--report", "report.html")
    return workdir


def test_the_note_names_the_variant_and_says_what_its_scores_are():
    assert NOTE == ("untrained: smoke run: fast uses seeded random weights (weights: none); "
                    "its scores test the pipeline and say nothing about a trained network.")


@pytest.mark.slow
def test_headline_figure_title_and_tables_caption(demo):
    cmp = demo / "results" / "demo" / "comparison"
    title = Image.open(cmp / "headline.png").text["Title"]
    assert title.splitlines()[0] == NOTE  # the figure's first title line, drawn in red
    md = (cmp / "headline.md").read_text().splitlines()
    assert md[-2:] == ["", f"Table: Mean and 95% CI per image, smooth map. {NOTE}"]
    tex = (cmp / "headline.tex").read_text()
    assert ("\\caption{Mean and 95\\% CI per image, smooth map. "
            + NOTE.replace("%", "\\%") + "}") in tex


@pytest.mark.slow
def test_every_comparison_table_names_the_weights_of_each_row(demo):
    cmp = demo / "results" / "demo" / "comparison"
    label = {"fast": UNTRAINED_LABEL, "centre_bias": "baseline:centre_bias",
             "uniform": "baseline:uniform"}
    for name in ("means.csv", "sign_flips.csv"):
        t = pd.read_csv(cmp / name)  # a plain read: a column, no comment lines
        assert list(t.columns).index("weights_label") == 2, name  # beside name and kind
        assert (t["weights_label"] == t["name"].map(label)).all(), name
        assert set(t["name"]) == set(label), name
    # no ceiling in this study, so no share of the gap: the column is there all the same
    assert list(pd.read_csv(cmp / "share_of_gap.csv").columns)[:2] == ["name", "weights_label"]
    paired = pd.read_csv(cmp / "paired.csv")
    assert (paired["weights_label_a"] == paired["a"].map(label)).all()
    assert (paired["weights_label_b"] == paired["b"].map(label)).all()
    assert (paired["a"] == "fast").any()
    dive = pd.read_csv(cmp / "deep_dive.csv")
    assert len(dive) == 1 and (dive["weights_label"] == UNTRAINED_LABEL).all()
    summary = pd.read_csv(demo / "results" / "demo" / "fast" / "summary.csv")
    assert (summary["weights_label"] == UNTRAINED_LABEL).all()


@pytest.mark.slow
def test_methods_page_and_report_front_page_carry_a_banner(demo):
    page = (demo / "results" / "demo" / "comparison" / "methods.html").read_text()
    banner = re.search(r'<p class="untrained"[^>]*>(.*?)</p>', page)
    assert banner and banner.group(1) == NOTE
    assert page.index('class="untrained"') < page.index("<h2>Dataset</h2>")  # on top
    html = (demo / "report.html").read_text()
    desc = json.loads(re.search(r"var workflow_desc = (\".*?\");\n", html).group(1))
    assert desc.index("admonition warning") < desc.index("quickgaze: EigenCAM maps")
    assert ("<strong>UNTRAINED: SMOKE RUN.</strong> fast uses seeded random weights "
            '(<tt class="docutils literal">weights: none</tt>)') in desc


@pytest.mark.slow
@pytest.mark.skipif(not COMMAND.exists(), reason="console script not installed (pip install -e .)")
def test_command_line_warns_on_stderr_with_weights_none(demo, tmp_path):
    image = min((demo / "resources" / "demo" / "images").iterdir())
    args = [str(COMMAND), "cam", str(image), "-o", str(tmp_path / "m.png"), "--model",
            FAST_VARIANT["model"], "--input-scale", "native", "--device", "cpu"]
    proc = subprocess.run([*args, "--weights", "none"], capture_output=True, text=True,
                          check=True)
    assert proc.stderr.splitlines() == [
        ("quickgaze cam: warning: --weights none: seeded random weights (untrained: smoke run); "
         "these maps test the pipeline, they are not a trained network's")]
    assert (tmp_path / "m.png").is_file()


def test_headline_figure_labels_untrained_rows_only():
    from quickgaze.report.figures import headline_plot
    from quickgaze.report.tables import headline_table

    means = pd.DataFrame([
        {"name": "fast", "kind": "variant", "weights_label": UNTRAINED_LABEL,
         "metric": "cc_smooth", "n": 3, "mean": 0.8, "ci_low": 0.7, "ci_high": 0.9},
        {"name": "coco", "kind": "variant", "weights_label": "COCO_V1",
         "metric": "cc_smooth", "n": 3, "mean": 0.5, "ci_low": 0.4, "ci_high": 0.6},
        {"name": "centre_bias", "kind": "baseline", "weights_label": "baseline:centre_bias",
         "metric": "cc_smooth", "n": 3, "mean": 0.3, "ci_low": 0.2, "ci_high": 0.4}])
    fig = headline_plot(headline_table(means))
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == [f"fast ({UNTRAINED_LABEL})", "coco", "centre_bias"]
    assert fig._suptitle.get_text().splitlines()[0] == NOTE
    assert fig._suptitle.get_color() == "firebrick"
    trained = headline_plot(headline_table(means[means["name"] != "fast"]))
    assert trained._suptitle.get_text().startswith("Headline: mean and 95% CI")
