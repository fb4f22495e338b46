"""A whole study on one GPU node, end to end (issue 15, item 5).

A `folder` dataset of SALICON-sized (480x640) scenes with maps and a SALICON
2015 fixation JSON: 64 distinct demo scenes (quickgaze.data.demo.write_demo_dataset)
repeated under new names up to `--images` (the files are hard links, the JSON's
entries copies). Two studies from nothing, each a real `snakemake --cores N` run
with CAMs on `--device` and evaluation on the node's CPUs:

1. one variant (`seed`, the notebook's);
2. the default three (`seed`, `aligned`, `fine`: one forward group).

Targets on one H100/H200 node at 5000 images: under 2 minutes for (1) and under
3 minutes for (2). Random weights (nothing downloaded). Prints one JSON line per
study (seconds, forward passes summed from the CAM job logs). On a CPU, check the
script with a small count:

    PYTHONPATH=. python benchmarks/gpu_study.py --images 6 --device cpu --cores 2
    PYTHONPATH=. python benchmarks/gpu_study.py                 # 5000 images, cuda, all cores
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from quickgaze.data.demo import write_demo_dataset

DISTINCT = 64
STUDIES = {"one_variant": ["seed"], "default_three": ["seed", "aligned", "fine"]}
TARGETS_S = {"one_variant": 120.0, "default_three": 180.0}


def write_dataset(root: Path, n: int) -> None:
    """``n`` images (``img_00000.jpg`` ...) from :data:`DISTINCT` demo scenes, with maps
    and one fixation JSON (skipped when already there)."""
    if (root / "fixations.json").exists() and len(list((root / "images").iterdir())) == n:
        return
    shutil.rmtree(root, ignore_errors=True)
    scenes = root / "scenes"
    write_demo_dataset(scenes, min(n, DISTINCT), seed=0)
    source = json.loads((scenes / "fixations.json").read_text())
    by_image: dict[int, list[dict]] = {}
    for a in source["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    (root / "images").mkdir()
    (root / "maps").mkdir()
    images, annotations = [], []
    for k in range(n):
        src = source["images"][k % len(source["images"])]
        name = f"img_{k:05d}"
        os.link(scenes / "images" / src["file_name"], root / "images" / f"{name}.png")
        os.link(scenes / "maps" / src["file_name"], root / "maps" / f"{name}.png")
        images.append({**src, "id": k, "file_name": f"{name}.png"})
        annotations += [{**a, "id": len(annotations) + j, "image_id": k}
                        for j, a in enumerate(by_image[src["id"]])]
    (root / "fixations.json").write_text(json.dumps({"images": images,
                                                     "annotations": annotations}))


def write_config(work: Path, data: Path, variants: list[str], device: str,
                 batch_size: int, forward_batch: int) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(
        dataset={"kind": "folder", "name": "study",
                 "folder": {"images": str(data / "images"), "maps": str(data / "maps"),
                            "fixations": str(data / "fixations.json")}},
        device=device, batch_size=batch_size, forward_batch=forward_batch, loader_workers=4,
        variants={v: config["variants"][v] for v in variants},
        ranking={**config["ranking"], "bootstrap": 1000},
    )
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def forward_passes(work: Path) -> int:
    total = 0
    for log in (work / "logs").rglob("cam/*.log"):
        found = re.findall(r"forward passes: (\d+)", log.read_text())
        total += int(found[-1]) if found else 0
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--forward-batch", type=int, default=16)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "gpu_study")
    args = ap.parse_args()
    data = args.out / "data"
    start = time.perf_counter()
    write_dataset(data, args.images)
    print(json.dumps({"images": args.images, "generate_s": round(time.perf_counter() - start, 1),
                      "device": args.device, "cores": args.cores}), flush=True)
    failed = False
    for study, variants in STUDIES.items():
        work = args.out / study
        shutil.rmtree(work, ignore_errors=True)
        write_config(work, data, variants, args.device, args.batch_size, args.forward_batch)
        cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
               "--cores", str(args.cores)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"{study}: snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        met = seconds <= TARGETS_S[study]
        failed |= not met and args.images >= 5000
        print(json.dumps({"study": study, "variants": variants, "seconds": round(seconds, 1),
                          "forward_passes": forward_passes(work),
                          "target_s": TARGETS_S[study], "met": met}), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
