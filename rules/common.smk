# Config validation, image ids, batches and path helpers.
from pathlib import Path

from snakemake.utils import validate

from quickgaze import baselines, datasets


validate(config, schema="../schemas/config.schema.yaml")

DATASET = config["dataset"]
NAME = DATASET.get("name") or DATASET["kind"]
RESULTS = f"results/{NAME}"
RESOURCES = f"resources/{NAME}"
LAYOUT = datasets.layout(DATASET, demo_root=RESOURCES)
VARIANTS = {name: {**config["cam_defaults"], **v} for name, v in config["variants"].items()}
# Baselines are pseudo-variants: evaluated and analysed like variants, no CAM.
BASELINES = list(baselines.BASELINES)
if set(VARIANTS) & set(BASELINES):
    raise ValueError(
        f"variant names {sorted(set(VARIANTS) & set(BASELINES))} are reserved for baselines"
    )


wildcard_constraints:
    variant="|".join([*VARIANTS, *BASELINES]),


def list_image_ids():
    """Image ids of the study, known when the workflow is parsed."""
    if DATASET["kind"] == "demo":
        return datasets.demo_ids(DATASET.get("demo", {}).get("n_images", 12))
    if DATASET["kind"] == "salicon" and not LAYOUT.images.is_dir():
        return []  # archives not extracted yet: `all` asks for them first
    return list(datasets.list_images(LAYOUT.images))


IMAGE_IDS = list_image_ids()
IMAGE_FILES = (
    {}
    if DATASET["kind"] == "demo" or not IMAGE_IDS
    else datasets.list_images(LAYOUT.images)
)


def chunk_batches(ids, size):
    """Consecutive batches of sorted ids, named b0000, b0001, ..."""
    ids = sorted(ids)
    return {f"b{k // size:04d}": ids[k : k + size] for k in range(0, len(ids), size)}


BATCHES = chunk_batches(IMAGE_IDS, config["batch_size"])


def image_path(image):
    if DATASET["kind"] == "demo":
        return f"{RESOURCES}/images/{image}.png"
    return str(IMAGE_FILES[image])


def official_map_path(image):
    """The dataset's own ground-truth map of an image, or None."""
    if LAYOUT.maps is None:
        return None
    if DATASET["kind"] == "demo":
        return f"{RESOURCES}/maps/{image}.png"
    candidate = LAYOUT.maps / f"{image}.png"
    return str(candidate) if candidate.exists() else None


def fixation_source():
    if DATASET["kind"] == "demo":
        return f"{RESOURCES}/fixations.json"
    return str(LAYOUT.fixations) if LAYOUT.fixations is not None else None


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


def variant_metrics(wildcards):
    return [metrics_path(wildcards.variant, i) for i in IMAGE_IDS]


def analysis_path(variant, name):
    return f"{RESULTS}/{variant}/{name}"


def all_targets():
    if DATASET["kind"] == "salicon" and not IMAGE_IDS:
        return salicon_extracted_flags()
    return [
        analysis_path(v, name)
        for v in [*VARIANTS, *BASELINES]
        for name in ("metrics.parquet", "metrics.csv", "ranking.csv")
    ]
