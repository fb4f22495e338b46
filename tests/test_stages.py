"""One definition per stage of what its results depend on (quickgaze/pipeline/stages.py):
rules and jobs agree with it, and code edits rerun what they change, nothing else."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from quickgaze.pipeline import stages

from conftest import REPO
from test_readme_commands import ok, repo_copy, run


def test_stage_code_is_the_modules_it_runs():
    assert "saliency.metrics" in stages.stage_modules("evaluation")
    # no torch in CPU jobs
    assert not [m for m in stages.stage_modules("evaluation") if m.startswith("cam")]
    assert {"cam.eigencam", "pipeline.cam_job", "cam.models", "cam.gradcam_methods",
            "cam.networks", "cam.variants"} <= set(stages.stage_modules("cam"))
    assert "saliency.metrics" not in stages.stage_modules("cam")
    # bookkeeping, not results
    assert not {"pipeline.batches", "pipeline.freshness"} & set(stages.stage_modules("cam"))
    # the ground truth is not scored, so the scoring code is not in its key
    assert not {"saliency.metrics", "saliency.baselines", "pipeline.scoring"} & set(
        stages.stage_modules("ground_truth"))
    assert not [m for m in stages.stage_modules("metrics_table")
                if m.startswith(("pipeline.ceiling_job", "pipeline.evaluate", "saliency.ceiling"))]


def copied_package(tmp_path: Path, monkeypatch) -> tuple[Path, callable]:
    """A copy of the package and a function that hashes every stage's code in it."""
    package = tmp_path / "quickgaze"
    shutil.copytree(REPO / "quickgaze", package, ignore=shutil.ignore_patterns("__pycache__"))

    def hashes() -> dict[str, str]:
        stages.clear_caches()
        monkeypatch.setattr(stages, "PACKAGE", package)
        return {s: stages.code_hash(s) for s in stages.STAGES}

    return package, hashes


ANALYSIS_STAGES = {"metrics_table", "analysis", "gallery", "compare", "headline", "methods",
                   "deep_dive", "categories"}


@pytest.mark.parametrize(("module", "function", "changed", "unchanged"), [
    # the table reader: fixation tables (ground truth and what reads it), not a CAM
    ("io/tables.py", "read_table", {"ground_truth", "ceiling"}, {"cam"}),
    # a metric: scoring and what reads scores, neither the ground truth nor a CAM
    ("saliency/metrics.py", "nss", {"evaluation", "baseline", "ceiling", "analysis"},
     {"ground_truth", "cam", "demo_dataset"}),
    # a figure: the report only
    ("report/figures.py", "gallery_figure", {"analysis", "gallery", "deep_dive"},
     {"ground_truth", "cam", "evaluation", "baseline", "ceiling", "fixation_stats",
      "metrics_table", "demo_dataset"}),
    # the CAM engine: the CAM stage only
    ("cam/eigencam.py", "compute_variant_cams", {"cam"},
     set(stages.STAGES) - {"cam"}),
])
def test_a_code_edit_changes_the_hash_of_exactly_the_stages_that_run_it(
        tmp_path, monkeypatch, module, function, changed, unchanged):
    package, hashes = copied_package(tmp_path, monkeypatch)
    before = hashes()
    path = package / module
    source = path.read_text()
    assert f"def {function}(" in source
    # one more statement at the top of the function's body: a real code edit
    edited = re.sub(rf"(def {function}\((?:.|\n)*?\) -> [^:]+:\n(?:\s+\"\"\"(?:.|\n)*?\"\"\"\n)?)",
                    r"\1    _edited = 1\n", source, count=1)
    assert edited != source
    path.write_text(edited)
    after = hashes()
    stages.clear_caches()
    moved = {s for s in before if before[s] != after[s]}
    assert changed <= moved, (module, moved)
    assert not unchanged & moved, (module, moved)
    if module.startswith("report/"):
        assert moved <= ANALYSIS_STAGES, moved


def test_code_hash_ignores_comments_docstrings_and_formatting(tmp_path, monkeypatch):
    package, hashes = copied_package(tmp_path, monkeypatch)
    before = hashes()
    metrics = package / "saliency" / "metrics.py"
    source = metrics.read_text()
    edited = source.replace('"""', '"""Reworded. ', 1)  # module docstring
    edited = re.sub(r"^(def \w+\()", r"# a comment\n\n\1", edited, count=1, flags=re.MULTILINE)
    metrics.write_text(edited + "\n\n# trailing comment\n")
    assert hashes() == before
    metrics.write_text(source + "\nEXTRA = 1\n")
    after = hashes()
    changed = {s for s in before if before[s] != after[s]}
    assert {"evaluation", "baseline"} <= changed and "cam" not in changed
    stages.clear_caches()


def test_dependencies_refuse_parameters_outside_the_stage_definition():
    with pytest.raises(ValueError, match="stage evaluation"):
        stages.dependencies("evaluation", {"sigma": 19, "seed": 0, "extra": 1})
    with pytest.raises(ValueError, match="stage evaluation"):
        stages.stage_fingerprint("evaluation", {"sigma": 19})
    a = stages.stage_fingerprint("evaluation", {"sigma": 19, "seed": 0})
    assert a != stages.stage_fingerprint("evaluation", {"sigma": 20, "seed": 0})
    assert a != stages.stage_fingerprint("evaluation", {"sigma": 19, "seed": 0}, {"stats": "x"})


def rule_stage(name: str) -> str | None:
    for prefix, stage in (("cam_", "cam"), ("evaluate_", "evaluation"),
                          ("baseline_", "baseline"), ("ceiling_", "ceiling"),
                          ("ground_truth_", "ground_truth"),
                          ("analyse_variant", "analysis")):
        if name.startswith(prefix):
            return stage
    return name if name in stages.STAGES else None


def loaded_rules(workdir: Path):
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(cores=1),
                                snakefile=REPO / "Snakefile", workdir=workdir)
        return list(workflow._workflow.rules)  # the API has no public rule listing


def test_every_rule_param_is_in_its_stage_definition_and_params_file(tmp_path):
    """A rule param that is neither a dependency of the stage nor declared bookkeeping
    fails here; so does a params file that is not the stage's dependencies."""
    shutil.copy(REPO / "config.yaml", tmp_path)
    rules = loaded_rules(tmp_path)
    unstaged = {r.name for r in rules if rule_stage(r.name) is None}
    assert unstaged == {"all"}, unstaged  # the demo study has no download rules
    for rule in rules:
        stage = rule_stage(rule.name)
        if stage is None:
            continue
        definition = stages.STAGES[stage]
        keys = set(rule.params.keys())
        assert keys <= set(definition.params) | set(definition.bookkeeping), (rule.name, keys)
        files = [f for f in rule.input if isinstance(f, str) and "/params/" in f]
        assert len(files) == 1, (rule.name, list(rule.input))
        written = json.loads((tmp_path / files[0]).read_text())
        assert written["stage"] == stage and written["code"] == stages.code_hash(stage)
        given = {k: getattr(rule.params, k) for k in definition.params if k in keys}
        assert {k: written["params"][k] for k in given} == given, rule.name


def computed(work: Path, pattern: str) -> int:
    """Images computed by the jobs whose logs match ``pattern`` (0 when none ran)."""
    total = 0
    for log in work.glob(pattern):
        total += sum(int(n) for n in re.findall(r"computed (\d+) images", log.read_text()))
    return total


@pytest.mark.slow
def test_code_edits_rerun_exactly_the_stages_they_change(tmp_path):
    work = repo_copy(tmp_path / "repo")
    ok(run("snakemake --cores 2", work))
    # 4 images, one forward each for the 2 variants of one forward group
    assert computed(work, "logs/demo/*/cam/*.log") == 4

    def edit(module: str, old: str | None, new: str) -> None:
        """Replace ``old`` by ``new`` in a module of the copy (append ``new`` without ``old``)."""
        path = work / "quickgaze" / f"{module}.py"  # module: "saliency/metrics"
        source = path.read_text()
        assert old is None or old in source
        path.write_text(source + new if old is None else source.replace(old, new, 1))
        for log in work.glob("logs/demo/**/*.log"):
            log.unlink()

    edit("cam/eigencam", "\n\n", "\n\n# a comment only\n\n")
    edit("saliency/metrics", '"""', '"""Reworded docstring. ')
    out = ok(run("snakemake --cores 2", work))
    assert "Nothing to be done" in out, out[-3000:]

    edit("saliency/metrics", None, "\n_ADDED = 1\n")
    ok(run("snakemake --cores 2", work))
    assert not list(work.glob("logs/demo/*/cam/*.log"))  # no CAM job ran
    # and no ground-truth record was recomputed (a metric does not make one)
    assert computed(work, "logs/demo/ground_truth/*.log") == 0
    # 2 variants, 2 baselines and the split-half ceiling (all scored by the same
    # metrics code), 4 images
    assert computed(work, "logs/demo/*/evaluate/*.log") == 20
    assert (work / "logs/demo/plain/analyse.log").exists()

    edit("cam/eigencam", None, "\n_ADDED = 1\n")
    ok(run("snakemake --cores 2", work))
    assert computed(work, "logs/demo/*/cam/*.log") == 4
    log = (work / "logs/demo/plain/cam/b0000.log").read_text()
    assert "forward passes: 2; per variant: plain 2, aligned 2" in log  # batches of 2
