"""Cost of the parse-time check that voids the done stamps of changed batch jobs
(quickgaze.pipeline.freshness.changed_since_done, issue 29) at scale.

Builds a synthetic results tree of the default study's shape, without running
anything: N images, 3 variants in one forward group, 2 baselines and 3
ceilings, batches of B; per image one source image and official map, one
ground-truth record, 3 CAM records, 3 smoothed maps and 3 + 2 + 3 metrics
records (empty files: only their status is read). Then times the check with
nothing changed (a no-op rerun's case), cold (first call) and warm (best of
the repeats). Usage:

    PYTHONPATH=. python benchmarks/stamp_check.py [--images 5000] [--batch-size 250]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from quickgaze.pipeline.freshness import changed_since_done

ROOT = Path(__file__).resolve().parent / "out" / "stamp_check"
VARIANTS, BASELINES, CEILINGS = ("seed", "aligned", "fine"), ("centre_bias", "uniform"), (
    "humans", "one_human", "infinite_humans")


def build(n: int, size: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    shutil.rmtree(ROOT, ignore_errors=True)
    ids = [f"img_{k:05d}" for k in range(n)]
    files: dict[str, list[str]] = {}

    def make(paths: list[Path]) -> list[str]:
        for p in paths:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch()
        return [str(p) for p in paths]

    for b in range(0, n, size):
        batch, part = f"b{b // size:04d}", ids[b:b + size]
        images = make([ROOT / "images" / f"{i}.jpg" for i in part])
        maps = make([ROOT / "maps" / f"{i}.png" for i in part])
        files[f"ground_truth_{batch}"] = [*images, *maps,
                                          *make([ROOT / "ground_truth" / f"{i}.npz" for i in part])]
        files[f"cam_seed_{batch}"] = [*images, *make([ROOT / v / "cam" / f"{i}.npz"
                                                      for v in VARIANTS for i in part])]
        for v in VARIANTS:
            files[f"evaluate_{v}_{batch}"] = make(
                [ROOT / v / d / f"{i}.{e}" for d, e in (("smooth", "png"), ("metrics", "json"))
                 for i in part])
        for s in (*BASELINES, *CEILINGS):
            files[f"score_{s}_{batch}"] = make([ROOT / s / "metrics" / f"{i}.json" for i in part])
    time.sleep(0.05)
    done = {rule: str(ROOT / "done" / rule) for rule in files}
    make([Path(p) for p in done.values()])
    return done, files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    done, files = build(args.images, args.batch_size)
    n_files = len({f for fs in files.values() for f in fs})
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        changed = changed_since_done(done, files)
        times.append(time.perf_counter() - start)
        assert changed == {}, changed
    print(f"{args.images} images, {len(done)} batch jobs, {n_files} distinct files: "
          f"first {times[0]:.3f} s, best {min(times):.3f} s")
    shutil.rmtree(ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
