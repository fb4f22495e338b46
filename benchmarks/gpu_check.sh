#!/usr/bin/env bash
# GPU check of the CAM engine (quickgaze.cam.eigencam.compute_cams on CUDA), < 5 min on one GPU.
#
#   bash benchmarks/gpu_check.sh            # makes .gpu-venv: pip DOWNLOADS torch 2.14.1,
#                                           # torchvision 0.29.1 and quickgaze's dependencies
#   QG_PYTHON=python3 bash benchmarks/gpu_check.sh   # offline: a Python that has torch + CUDA
#
# 256 synthetic 480x640 scenes (SALICON size), fasterrcnn_resnet50_fpn with seeded random
# weights (nothing downloaded), detector input scale (800x1066), sign policy
# mean_activation (a deterministic sign, so CPU and GPU CAMs are comparable). Prints
# images/s on CUDA and the max abs difference to the CPU CAMs of 8 images (CAMs are
# min-max normalised to [0, 1]); exits non-zero when CUDA is unavailable or the
# difference exceeds 1e-3.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${QG_PYTHON:-}" ]]; then
    python3 -m venv .gpu-venv
    .gpu-venv/bin/pip install -q torch==2.14.1 torchvision==0.29.1 -e .
    QG_PYTHON=.gpu-venv/bin/python
fi
PYTHONPATH=$PWD exec "$QG_PYTHON" - <<'EOF'
import sys, time
import numpy as np, torch
from quickgaze.cam.eigencam import CamSettings, compute_cams
from quickgaze.data.demo import demo_scene
from quickgaze.cam.models import build_detector

if not torch.cuda.is_available():
    sys.exit(f"GPU CHECK FAILED: CUDA is not available (torch {torch.__version__})")
N, BATCH, SUBSET, TOL = 256, 16, 8, 1e-3
rng = np.random.default_rng(0)
scenes = [demo_scene(rng)[0] for _ in range(32)]
images = [scenes[k % len(scenes)] for k in range(N)]  # 32 distinct scenes, repeated
settings = CamSettings(sign_policy="mean_activation")
model = build_detector("fasterrcnn_resnet50_fpn", "none", seed=0)
gpu, cpu = torch.device("cuda"), torch.device("cpu")

def run(dev, imgs, batch):
    out = []
    for k in range(0, len(imgs), batch):
        out += compute_cams(model, imgs[k:k + batch], settings, dev)
    return out

model.to(gpu)
run(gpu, images[:BATCH], BATCH)  # warm-up: CUDA context, cuDNN autotuning
torch.cuda.synchronize()
t0 = time.perf_counter()
cuda_cams = run(gpu, images, BATCH)
torch.cuda.synchronize()
rate = N / (time.perf_counter() - t0)
model.to(cpu)
cpu_cams = run(cpu, images[:SUBSET], 4)
diff = max(float(np.abs(a.cam - b.cam).max()) for a, b in zip(cuda_cams, cpu_cams))
if diff > TOL:  # diagnosis: is it TF32 convolutions and matmuls (PyTorch's CUDA default)?
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    model.to(gpu)
    fp32 = run(gpu, images[:SUBSET], 4)
    print(f"without TF32: max |CUDA - CPU| = "
          f"{max(float(np.abs(a.cam - b.cam).max()) for a, b in zip(fp32, cpu_cams)):.2e}")
errors = sum(bool(r.error) for r in cuda_cams)

# The finest grid (level 0, 200x267 cropped): subspace iteration on the GPU.
fine = CamSettings(grid="finest", sign_policy="mean_activation")
model.to(gpu)
fine_gpu = compute_cams(model, images[:4], fine, gpu)
model.to(cpu)
fine_cpu = compute_cams(model, images[:4], fine, cpu)
fine_diff = max(float(np.abs(a.cam - b.cam).max()) for a, b in zip(fine_gpu, fine_cpu))
print(f"finest grid: max |CUDA - CPU| = {fine_diff:.2e} on 4 images")

# The CAM job as the workflow runs it: JPEG files decoded by DataLoader workers into
# pinned memory while the GPU runs, against decoding in the job's own process.
import tempfile, imageio.v3 as iio
from pathlib import Path
from quickgaze.pipeline.cam_job import cam_job
variant = {"model": "fasterrcnn_resnet50_fpn", "weights": "none", "input_scale": "detector",
           "levels": "all", "grid": "coarsest", "sign_policy": "mean_activation",
           "crop_padding": True}
with tempfile.TemporaryDirectory() as tmp:
    files = {}
    for k in range(128):
        files[f"s{k:03d}"] = Path(tmp) / f"s{k:03d}.jpg"
        iio.imwrite(files[f"s{k:03d}"], images[k])
    for workers in (0, 4):
        out = {"v": {i: Path(tmp) / f"w{workers}" / f"{i}.npz" for i in files}}
        t0 = time.perf_counter()
        cam_job(sorted(files), files, out, {"v": variant}, "cuda", 0, forward_batch=BATCH,
                loader_workers=workers)
        print(f"cam_job, 128 JPEG files, loader_workers={workers}: "
              f"{128 / (time.perf_counter() - t0):.1f} images/s (model build included)")
ok = diff <= TOL and fine_diff <= TOL and errors == 0
print(f"GPU CHECK {'OK' if ok else 'FAILED'}: {torch.cuda.get_device_name(0)}, torch "
      f"{torch.__version__}, {N} images at {rate:.1f} images/s (batch {BATCH}), max |CUDA - CPU| "
      f"= {diff:.2e} on {SUBSET} images (tolerance {TOL:g}), {errors} per-image errors")
sys.exit(0 if ok else 1)
EOF
