# Config validation, image ids, batches and path helpers.
import json
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

# The quickgaze next to this Snakefile, installed or not, as in every job
# (workflow_scripts/quickgaze_path.py): stage code hashes are of the code that runs.
sys.path.insert(0, workflow.basedir)

from quickgaze.cam import variants
from quickgaze.cam.weights import local_weights
from quickgaze.data import layout as datasets
from quickgaze.io.files import atomic_path
from quickgaze.pipeline import stages
from quickgaze.pipeline.freshness import changed_since_done
from quickgaze.saliency import baselines, ceiling

validate(config, schema="../schemas/config.schema.yaml")

DATASET = config["dataset"]
NAME = DATASET.get("name") or DATASET["kind"]
# Names used in output paths (also constrained by the schema): results/, logs/, resources/ only.
datasets.check_path_names(
    {
        "dataset.name": NAME,
        **{f"variants.{v}": v for v in config["variants"]},
        **{
            f"dataset.salicon.archives.{p}": p
            for p in DATASET.get("salicon", {}).get("archives", {})
        },
    }
)
RESULTS = f"results/{NAME}"
RESOURCES = f"resources/{NAME}"
LAYOUT = datasets.layout(DATASET, demo_root=RESOURCES)
VARIANTS = {
    name: {**config["cam_defaults"], **v} for name, v in config["variants"].items()
}
# Variants that share one forward per image are computed in the same CAM jobs.
FORWARD_GROUPS = variants.forward_groups(VARIANTS)
# Baselines are pseudo-variants: evaluated and analysed like variants, no CAM.
BASELINES = list(baselines.BASELINES)
# The human ceiling (split halves, one human, infinitely many): pseudo-variants too.
CEILINGS = list(
    config["ceiling"]["names"]
)  # a subset of quickgaze.saliency.ceiling.CEILINGS
SCORED = [
    *VARIANTS,
    *BASELINES,
    *CEILINGS,
]  # everything with per-image metrics, side by side
RANKING = config["ranking"]
REFERENCE = RANKING.get("reference") or next(iter(VARIANTS))

_reserved = {
    "ground_truth",
    "comparison",
    "params",
    "done",
    *BASELINES,
    *ceiling.CEILINGS,
}
_reserved &= set(VARIANTS)
if _reserved:
    raise ValueError(
        f"config.yaml: variant name(s) {sorted(_reserved)} are reserved "
        "(baselines, the human ceiling, or results/<dataset>/<name>/ would collide)"
    )
for _name, _v in VARIANTS.items():
    variants.check_variant(_name, _v)  # method, model and their settings
    if variants.setting(_v, "method") != "eigencam":
        continue  # grad-cam's methods do not read levels, grid or sign_policy
    if _v["sign_policy"] == "svd" and _v["grid"] == "finest":
        raise ValueError(
            f"config.yaml: variant '{_name}': sign_policy 'svd' (numpy's dense SVD, "
            "grad-cam's sign) is not feasible at the finest grid (up to 54400 cells "
            "per image); use sign_policy max_abs or mean_activation, or a coarser grid"
        )
if REFERENCE not in VARIANTS:
    raise ValueError(
        f"config.yaml: ranking.reference '{REFERENCE}' is not a variant; "
        f"variants: {', '.join(VARIANTS)}"
    )


wildcard_constraints:
    variant="|".join(VARIANTS),
    scored="|".join(SCORED),


# Every image of the study by id, known when the workflow is parsed (what a
# dataset kind has is quickgaze.data.layout.DatasetLayout's to say).
IMAGE_FILES = LAYOUT.image_files()
IMAGE_IDS = list(IMAGE_FILES)
# Images that Snakemake cannot take as inputs (a broken symbolic link, a future date);
# still in the study, their jobs read them by path (quickgaze.data.layout.not_workflow_inputs).
NOT_INPUTS = {} if LAYOUT.generated else datasets.not_workflow_inputs(IMAGE_FILES)


def params_file(stage, params, name=None):
    """What ``stage`` depends on (quickgaze.pipeline.stages.dependencies: ``params`` and the
    hash of its code) as ``results/<dataset>/params/<name or stage>.json``,
    rewritten only when it changes.

    Rules take this file as an input, so a changed parameter or code reruns them
    through its modification time alone; the jobs' per-image fingerprints come
    from the same definition (quickgaze.pipeline.stages.stage_fingerprint). The profiles run Snakemake with --drop-metadata
    and --rerun-triggers mtime: its per-output records repeat a batch job's
    inputs in every file (1.4 GB, 40 s of a no-op rerun at 5000 images).
    """
    path = Path(RESULTS, "params", f"{name or stage}.json")
    text = json.dumps(stages.dependencies(stage, params), indent=1, sort_keys=True)
    if not path.exists() or path.read_text() != text:
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return str(path)


def cam_threads():
    """Threads of a CAM job: `cam_threads`; by default every core Snakemake was
    given on the CPU (it sets OMP_NUM_THREADS to a job's threads, so 1 would halve
    the forward), and at most 4 with an explicit CUDA device, whose forward needs
    few, so that evaluation jobs run on the other cores meanwhile. Without
    --cores (a cluster executor, or `--report`, `--unlock`, `--dag`, `--summary`,
    which run no job) 4: `workflow.cores` would stop the parse there."""
    if config.get("cam_threads"):
        return config["cam_threads"]
    cores = workflow.resource_settings.cores or 4
    if str(config["device"]).startswith("cuda"):
        return min(4, cores)
    return cores


# Threads of a ground-truth, evaluation or baseline batch job: numpy and scipy
# release the GIL in their array loops, so two threads evaluate 1.7x faster
# (quickgaze.pipeline.batches.run_stale); more would mostly wait for the GIL.
CPU_JOB_THREADS = 2


def chunk_batches(ids, size):
    """Consecutive batches of sorted ids, named b0000, b0001, ..."""
    ids = sorted(ids)
    return {f"b{k // size:04d}": ids[k : k + size] for k in range(0, len(ids), size)}


BATCHES = chunk_batches(IMAGE_IDS, config["batch_size"])


def image_path(image):
    return str(IMAGE_FILES[image])


def image_inputs(ids):
    """The image files of ``ids`` that their batch rules take as inputs (all but
    NOT_INPUTS); the jobs get every image's path as the param ``image_files``."""
    return [image_path(i) for i in ids if i not in NOT_INPUTS]


def official_map_path(image):
    """The dataset's own ground-truth map of an image, or None."""
    path = LAYOUT.map_file(image)
    return None if path is None else str(path)


def fixation_source():
    return None if LAYOUT.fixations is None else str(LAYOUT.fixations)


def done_path(rule):
    """A batch job's completion stamp, which Snakemake deletes before the job runs and
    touches when it succeeds. After a failed job Snakemake restores the batch's
    update() files from backups with new dates, which would make them look current;
    the missing stamp makes the next plain run redo the job, which then decides per
    image by content (quickgaze.pipeline.freshness.is_fresh)."""
    return f"{RESULTS}/done/{rule}"


def batch_files():
    """Every batch rule's name -> its named per-image outputs (output name -> files):
    the update() outputs of rules/data.smk, cam.smk, evaluate.smk, baselines.smk and
    ceiling.smk, which read them from here (BATCH_FILES)."""
    files = {}
    for batch, ids in BATCHES.items():
        files[f"ground_truth_{batch}"] = {"truths": [truth_path(i) for i in ids]}
        for group, members in FORWARD_GROUPS.items():
            files[f"cam_{group}_{batch}"] = {
                "cams": [cam_path(v, i) for v in members for i in ids]
            }
        for v in VARIANTS:
            files[f"evaluate_{v}_{batch}"] = {
                "smooth": [smooth_path(v, i) for i in ids],
                "metrics": [metrics_path(v, i) for i in ids],
            }
        for b in BASELINES:
            files[f"baseline_{b}_{batch}"] = {
                "metrics": [metrics_path(b, i) for i in ids]
            }
        for c in CEILINGS:
            files[f"ceiling_{c}_{batch}"] = {
                "metrics": [metrics_path(c, i) for i in ids]
            }
    return files


def truth_path(image):
    return f"{RESULTS}/ground_truth/{image}.npz"


def fixation_stats_path():
    """Dataset-level centre bias and shuffled-AUC pool (one file, beside the per-image dirs)."""
    return f"{RESULTS}/fixation_stats.npz"


def cam_path(variant, image):
    return f"{RESULTS}/{variant}/cam/{image}.npz"


def smooth_path(variant, image):
    return f"{RESULTS}/{variant}/smooth/{image}.png"


def metrics_path(variant, image):
    return f"{RESULTS}/{variant}/metrics/{image}.json"


BATCH_FILES = batch_files()  # once: the batch rules and `all` read it


def scored_metrics(wildcards):
    return [metrics_path(wildcards.scored, i) for i in IMAGE_IDS]


def analysis_path(variant, name):
    return f"{RESULTS}/{variant}/{name}"


def parent_of_fixations(wildcards, output):
    return str(Path(output.fixations).parent)


def salicon_extract_dir(wildcards):
    archive = DATASET["salicon"]["archives"][wildcards.part]
    return f"{DATASET['salicon']['root']}/{archive.get('extract_to', '')}"


def salicon_file_name(wildcards):
    """The archive's own file name, from its URL (a JSON is kept under that name)."""
    return DATASET["salicon"]["archives"][wildcards.part]["url"].rsplit("/", 1)[-1]


def salicon_archive(wildcards):
    return DATASET["salicon"]["archives"][wildcards.part]


def salicon_extracted_flags():
    root = DATASET["salicon"]["root"]
    return [f"{root}/.extracted_{part}" for part in DATASET["salicon"]["archives"]]


# What each stage's results depend on: given to its rules as params, and as a
# params_file input so that a change reruns them (see params_file).
DEMO_PARAMS = {
    "n_images": len(IMAGE_IDS),
    "seed": lookup(dpath="dataset/demo/seed", within=config, default=0),
}
GROUND_TRUTH_PARAMS = {
    "fixation_format": DATASET.get("fixation_format", "auto"),
    "min_fixations": lookup(
        dpath="evaluation/min_fixations", within=config, default=10
    ),
}
EVALUATION_PARAMS = {"sigma": config["evaluation"]["sigma"], "seed": config["seed"]}
FIXATION_STATS_PARAMS = {
    "ids": IMAGE_IDS,
    "centre_bias_sigma": lookup(
        dpath="evaluation/centre_bias_sigma", within=config, default="fit"
    ),
    "n_others": lookup(
        dpath="evaluation/shuffled_auc_images", within=config, default=10
    ),
    "seed": config["seed"],
}
TABLE_PARAMS = {
    "image_paths": {i: image_path(i) for i in IMAGE_IDS},
    "truth_paths": {i: truth_path(i) for i in IMAGE_IDS},
    "strict": config["strict"],
}
ANALYSIS_PARAMS = {
    "metric": RANKING["metric"],
    "n": RANKING["n"],
    "n_boot": RANKING["bootstrap"],
    "seed": config["seed"],
    "exclude_degenerate": RANKING.get("exclude_degenerate", True),
}
COMPARE_PARAMS = {
    "names": SCORED,
    "baselines": BASELINES,
    "ceilings": CEILINGS,
    # the sign policy of an eigencam variant; a grad-cam method's name otherwise
    "policies": {
        v: (
            s["sign_policy"]
            if variants.setting(s, "method") == "eigencam"
            else variants.setting(s, "method")
        )
        for v, s in VARIANTS.items()
    },
    "metric": RANKING["metric"],
    "n_boot": RANKING["bootstrap"],
    "seed": config["seed"],
}
METHODS_PARAMS = {
    "names": SCORED,
    "dataset": DATASET,
    "variants": VARIANTS,
    "evaluation": config["evaluation"],
    "ranking": RANKING,
    # what the methods page says of the per-category analysis
    "categories": (
        f"from {LAYOUT.categories}"
        if LAYOUT.categories is not None
        else f"not available ({LAYOUT.categories_note})"
    ),
}
HEADLINE_PARAMS = {
    # The headline reads the map the ranking metric names (<metric>_raw or _smooth).
    "form": RANKING["metric"].rsplit("_", 1)[1],
    "formats": lookup(dpath="figure_formats", within=config, default=["png"]),
}
CATEGORIES_PARAMS = {
    "names": SCORED,
    "baselines": BASELINES,
    "ceilings": CEILINGS,
    "metric": RANKING["metric"],
    "n_boot": RANKING["bootstrap"],
    "seed": config["seed"],
    "formats": HEADLINE_PARAMS["formats"],
}
DEEP_DIVE_PARAMS = {
    "names": list(VARIANTS),
    "reference": REFERENCE,
    "metric": RANKING["metric"],
    "n": RANKING["n"],
    "exclude_degenerate": RANKING.get("exclude_degenerate", True),
}


CEILING = config["ceiling"]


def ceiling_stage_params(name):
    """What the records of ceiling ``name`` depend on (quickgaze.pipeline.stages, stage ``ceiling``)."""
    return {
        "ceiling": name,
        "repeats": CEILING["repeats"],
        "seed": config["seed"],
        "one_human_observers": CEILING["one_human_observers"],
        "infinite_repeats": CEILING["infinite_repeats"],
    }


def cam_group_params(members):
    return {"variants": {v: VARIANTS[v] for v in members}, "seed": config["seed"]}


def weights_input(variant):
    """A variant's local weights file as a CAM rule input, so that replacing it reruns
    the variant's CAM jobs (none for coco and none)."""
    path = local_weights(VARIANTS[variant]["weights"])
    return [] if path is None else [str(path)]


def missing(paths):
    """The paths that do not exist (one directory listing per directory)."""
    paths = list(paths)
    present = {}
    for p in paths:
        folder = os.path.dirname(p)
        if folder not in present:
            present[folder] = (
                set(os.listdir(folder)) if os.path.isdir(folder) else set()
            )
    return [p for p in paths if os.path.basename(p) not in present[os.path.dirname(p)]]


def batch_watched_files(rule):
    """The files of batch job ``rule`` whose change (by content, under any date) must
    make it run again: its per-image outputs and its inputs from outside results/
    (images, maps, fixation and weights files), as its rule declares them. Inputs
    under results/ (records of other jobs, params files) need no watch: a job that
    rewrites them gives them new dates, and Snakemake's own dates see that."""
    sources = [f for f in getattr(rules, rule).input if not f.startswith(f"{RESULTS}/")]
    return [*sources, *(f for files in BATCH_FILES[rule].values() for f in files)]


def void_changed_done_stamps(stamps):
    """Delete the done stamp of every batch job one of whose files
    (batch_watched_files) changed after it last succeeded, so that it runs again
    and recomputes, by content, what differs: a record or map that is damaged, an
    image or weights file replaced under an old date (cp -p), ...
    (quickgaze.pipeline.freshness.changed_since_done)."""
    changed = changed_since_done(
        stamps, {rule: batch_watched_files(rule) for rule in stamps}
    )
    for rule, files in changed.items():
        Path(stamps[rule]).unlink(missing_ok=True)
    if changed:
        shown = [
            f"{rule} ({files[0]}"
            + (f" and {len(files) - 1} more)" if len(files) > 1 else ")")
            for rule, files in list(changed.items())[:5]
        ]
        more = f", and {len(changed) - 5} more jobs" if len(changed) > 5 else ""
        print(
            f"quickgaze: files changed after their batch job last succeeded; "
            f"{len(changed)} job(s) run again and recompute what differs by content: "
            + ", ".join(shown)
            + more,
            file=sys.stderr,
        )


def stale_batch_targets():
    """What `all` must name so that Snakemake reruns every batch job with missing work:
    a job that never succeeded (no done stamp) by its stamp, which brings in all its
    files; a succeeded job by the per-image files it wrote that are gone since, since
    Snakemake does not rebuild a deleted intermediate whose consumers are current.
    Present files need no name (they are in the DAG through the tables). Naming every
    missing file instead (~45,000 on a 5000-image study from nothing) made that dry
    run 26-32 s instead of 19-20 s (benchmarks/RESULTS.md). A job whose files changed
    after it succeeded loses its stamp first (void_changed_done_stamps)."""
    stamps = {rule: done_path(rule) for rule in BATCH_FILES}
    void_changed_done_stamps(stamps)
    absent = set(missing(stamps.values()))
    done = [rule for rule in BATCH_FILES if stamps[rule] not in absent]
    return [
        *absent,
        *missing(f for rule in done for out in BATCH_FILES[rule].values() for f in out),
    ]


def comparison_path(name):
    return f"{RESULTS}/comparison/{name}"


def scored_tables(wildcards=None):
    return [analysis_path(n, "metrics.parquet") for n in SCORED]


def variant_tables(wildcards=None):
    return [analysis_path(v, "metrics.parquet") for v in VARIANTS]


# Per-variant and per-baseline outputs of rules/analysis.smk, and the comparison.
ANALYSIS_FILES = (
    "metrics.parquet",
    "metrics.csv",
    "errors.csv",
    "ranking.csv",
    "deciles.csv",
    "summary.csv",
    "deciles.png",
)
COMPARISON_FILES = (
    "means.csv",
    "paired.csv",
    "sign_flips.csv",
    "share_of_gap.csv",
    "share_of_gap_images.csv",
    "overview.png",
    "paired.png",
    "deep_dive.csv",
    "deep_dive",
    "headline.md",
    "headline.tex",
    "methods.html",
)


def headline_vector_figures(wildcards=None):
    """The headline figure in the other formats of `figure_formats` (pdf, svg); the
    PNG is always written, for the report."""
    return [
        comparison_path(f"headline.{fmt}")
        for fmt in HEADLINE_PARAMS["formats"]
        if fmt != "png"
    ]


# Outputs of rules/categories.smk (a dataset with object annotations only).
CATEGORY_GROUPINGS = ("supercategory", "n_objects", "largest_object")


def category_files():
    """The per-category tables and plots (PNG, and the other `figure_formats`)."""
    if LAYOUT.categories is None:
        return []
    return [
        comparison_path("categories_images.csv"),
        *(comparison_path(f"categories_{g}.csv") for g in CATEGORY_GROUPINGS),
        *(comparison_path(f"categories_{g}.png") for g in CATEGORY_GROUPINGS),
        *category_vector_figures(),
    ]


def category_vector_figures(wildcards=None):
    return [
        comparison_path(f"categories_{g}.{fmt}")
        for g in CATEGORY_GROUPINGS
        for fmt in CATEGORIES_PARAMS["formats"]
        if fmt != "png"
    ]


def salicon_part_names():
    """A regex of the SALICON archive names (the download rule's `part` wildcard),
    so that the annotation archive beside them is not taken for one."""
    return "|".join(re.escape(p) for p in DATASET["salicon"]["archives"])


def all_targets():
    if LAYOUT.downloaded and not IMAGE_IDS:
        # First run: every download (offline, each error names its file).
        annotations = [] if LAYOUT.annotations is None else [str(LAYOUT.categories)]
        return [*salicon_extracted_flags(), *annotations]
    return [
        *stale_batch_targets(),
        *(analysis_path(n, name) for n in SCORED for name in ANALYSIS_FILES),
        *(analysis_path(v, "gallery") for v in VARIANTS),
        *(comparison_path(name) for name in COMPARISON_FILES),
        comparison_path("headline.png"),
        *headline_vector_figures(),
        *category_files(),
    ]
