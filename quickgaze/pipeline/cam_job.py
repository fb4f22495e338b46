"""The CAM batch job: the network loaded once, images decoded while it runs,
one CAM record per stale image (see :mod:`quickgaze.pipeline.batches`)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from quickgaze.cam.eigencam import CamResult, CamSettings, compute_variant_cams
from quickgaze.cam.models import build_model, device_label, resolve_device, weights_identity
from quickgaze.cam.networks import EIGENCAM
from quickgaze.cam.variants import forward_key, setting, size_guard
from quickgaze.cam.weights import local_weights, weights_label
from quickgaze.io.images import ImageReadError, native_size_guard, read_rgb
from quickgaze.io.records import save_npz
from quickgaze.pipeline.batches import Progress, stale_items
from quickgaze.pipeline.freshness import drop_kept, is_fresh, keep_copy, recover_kept
from quickgaze.pipeline.provenance import provenance
from quickgaze.pipeline.stages import stage_fingerprint

log = logging.getLogger("quickgaze")


def weights_source(variant: dict[str, Any]) -> dict[str, Path]:
    """A local weights file as an input of every CAM record (its content identity is
    stored, see :func:`quickgaze.pipeline.freshness.is_fresh`); none for ``coco`` and ``none``."""
    path = local_weights(variant["weights"])
    return {} if path is None else {"weights": path}


def cam_settings(variant: dict[str, Any]) -> CamSettings:
    levels = variant["levels"]
    return CamSettings(levels=("all",) if levels == "all" else tuple(str(v) for v in levels),
                       grid=str(variant["grid"]), input_scale=variant["input_scale"],
                       sign_policy=variant["sign_policy"], crop_padding=variant["crop_padding"],
                       precision=variant.get("precision", "fp32"),
                       channels_last=bool(variant.get("channels_last", False)))


class DecodedImages(torch.utils.data.Dataset):
    """Images decoded in DataLoader workers: item ``k`` is ``(id, (H, W, 3) uint8
    tensor or None, error message, note)``, so decoding overlaps the network.
    ``guard``: see :func:`size_guard`; its note (a downscale) goes to the record."""

    def __init__(self, ids: list[str], paths: dict[str, Path],
                 guard: tuple[int | None, str] | None = None) -> None:
        self.ids, self.paths, self.guard = ids, paths, guard

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, k: int) -> tuple[str, torch.Tensor | None, str, str]:
        i = self.ids[k]
        try:
            image, note = read_rgb(self.paths[i]), ""
            if self.guard is not None:
                image, note = native_size_guard(image, self.paths[i], *self.guard)
            return i, torch.from_numpy(image), "", note
        except ImageReadError as err:
            return i, None, str(err), ""


def image_loader(ids: list[str], paths: dict[str, Path], batch: int, workers: int,
                 pin: bool, guard: tuple[int | None, str] | None = None
                 ) -> torch.utils.data.DataLoader:
    """Batches of decoded images in ``ids`` order, prefetched by ``workers`` processes."""
    return torch.utils.data.DataLoader(
        DecodedImages(ids, paths, guard), batch_size=batch, num_workers=workers, pin_memory=pin,
        collate_fn=list, prefetch_factor=2 if workers else None)


def load_network(variant: dict[str, Any], seed: int, device: torch.device) -> torch.nn.Module:
    """The variant's network (:func:`quickgaze.cam.models.build_model`) on ``device``, in
    channels-last memory format when the variant asks for it."""
    model = build_model(variant["model"], variant["weights"], seed).to(device)
    if bool(variant.get("channels_last", False)):
        model = model.to(memory_format=torch.channels_last)
    return model


def cam_fingerprint(name: str, variant: dict[str, Any], seed: int) -> str:
    """The fingerprint of one variant's CAM records: the ``cam`` stage of its own
    variant block (see :mod:`quickgaze.pipeline.stages`), whatever group it is computed in."""
    return stage_fingerprint("cam", {"variants": {name: variant}, "seed": seed})


def cam_job(ids: list[str], images: dict[str, Path], outputs: dict[str, dict[str, Path]],
            variants: dict[str, dict[str, Any]], device: str, seed: int, forward_batch: int,
            loader_workers: int = 1) -> int:
    """Write the CAM record ``outputs[variant][id]`` (``.npz``) of every stale
    (variant, image) of a forward group (:func:`forward_key`: a ValueError when
    the variants do not share one).

    Staleness is per variant and image (:func:`cam_fingerprint` and the
    content of the image and weights, :func:`quickgaze.pipeline.freshness.is_fresh`; a
    fresh copy that a failed job kept is taken back,
    :func:`quickgaze.pipeline.freshness.recover_kept`); an
    image goes through the network once if any variant needs it, and each
    variant that needs it gets its fusion, PCA and sign policy from that one
    forward (:func:`quickgaze.cam.eigencam.compute_variant_cams`). A group of a grad-cam
    method (``method`` other than ``eigencam``: its own forward and backward, so
    its own group) runs grad-cam per variant on the images that variant needs
    (:func:`quickgaze.cam.gradcam_methods.method_cams`), with the same record keys
    (``explained_variance`` and ``sign_flipped`` NaN). The network is built
    once, and only if some image needs it; images are decoded by
    ``loader_workers`` processes while the network runs (pinned memory on
    CUDA). Record keys: ``cam`` ``(h, w)`` float32, ``extent``, ``offset``,
    ``explained_variance``, ``sign_flipped`` (float: 1 or 0, NaN where no
    reference sign exists, see :class:`~quickgaze.cam.eigencam.CamResult`),
    ``converged``, ``image_shape``, ``weights_label``, ``provenance`` (JSON,
    :func:`quickgaze.pipeline.provenance.provenance`: versions, code hash, device and
    :func:`~quickgaze.cam.models.weights_identity`), ``error``, ``warnings``
    (a native-scale downscale, see :func:`size_guard`, when ``image_shape`` is
    the downscaled size; the solver's notes). The log states ``forward passes:
    N`` and each variant's count. Returns the number of forward passes.
    """
    names = list(variants)
    keys = {forward_key(v) for v in variants.values()}
    if len(keys) != 1:
        raise ValueError(f"variants {names} do not share a forward (model, weights, "
                         f"input scale, size guard): {sorted(map(str, keys))}")
    first = variants[names[0]]
    fps = {n: cam_fingerprint(n, v, seed) for n, v in variants.items()}
    label = weights_label(first["weights"])
    eigencam = setting(first, "method") == EIGENCAM
    settings = [cam_settings(variants[n]) for n in names] if eigencam else []

    def sources(i: str) -> dict[str, Path | None]:
        return {"image": images[i], **weights_source(first)}

    def fresh(n: str, i: str) -> bool:
        path, src = outputs[n][i], sources(i)
        if is_fresh(path, fps[n], src):
            return True
        if recover_kept(path, fps[n], src):
            log.info("%s (%s): kept from a job that failed after computing it", i, n)
            return True
        return False

    stale = {n: {i for i in ids if not fresh(n, i)} for n in names}
    needed = stale_items(ids, lambda i: not any(i in stale[n] for n in names), "CAM forward")
    log.info("forward passes: %d; per variant: %s", len(needed),
             ", ".join(f"{n} {len(stale[n])}" for n in names))
    progress = Progress("CAM forward", len(needed))
    written = [outputs[n][i] for n in names for i in ids]
    if not needed:
        drop_kept(written)
        return progress.finish()
    dev = resolve_device(device)
    model = load_network(first, seed, dev)
    log.info("model %s (%s) on %s", first["model"], label, dev)
    prov = json.dumps(provenance("cam", device_label(dev),
                                 weights_identity(first["model"], first["weights"])),
                      sort_keys=True)
    for batch in image_loader(needed, images, forward_batch, loader_workers, dev.type == "cuda",
                              size_guard(first)):
        for i, _, err, _ in batch:
            if err:
                log.warning("%s: %s", i, err)
                for n in names:
                    if i in stale[n]:
                        save_npz(outputs[n][i], inputs=sources(i), error=err,
                                 fingerprint=fps[n], weights_label=label, provenance=prov)
                        keep_copy(outputs[n][i])
        good = [(i, img, note) for i, img, err, note in batch if not err]
        if good and not eigencam:
            # grad-cam (and the sklearn it imports) costs seconds to import: only the jobs
            # of its methods pay for it (the stage hash reads this import all the same).
            from quickgaze.cam.gradcam_methods import method_cams

            for n in names:
                todo = [(i, img, note) for i, img, note in good if i in stale[n]]
                if not todo:
                    continue
                results = method_cams(model, first["model"],
                                      [img.to(dev) for _, img, _ in todo], variants[n])
                for (i, img, note), res in zip(todo, results):
                    _save_cam(outputs[n][i], res, img, note, sources(i), fps[n], label,
                              prov, f"{i} ({n})")
        elif good:
            wanted = [[i in stale[n] for i, _, _ in good] for n in names]
            results = compute_variant_cams(model, [img for _, img, _ in good], settings, dev,
                                           wanted)
            for n, per_image in zip(names, results):
                for (i, img, note), res in zip(good, per_image):
                    if res is not None:
                        _save_cam(outputs[n][i], res, img, note, sources(i), fps[n], label,
                                  prov, f"{i} ({n})")
        progress.advance(len(batch))
    drop_kept(written)
    return progress.finish()


def _save_cam(path: Path, res: CamResult, img: torch.Tensor, note: str,
              inputs: dict[str, Path | None], fp: str, label: str, prov: str,
              what: str) -> None:
    notes = "; ".join(filter(None, (note, res.warnings)))
    for message in (notes, res.error):
        if message:
            log.warning("%s: %s", what, message)
    save_npz(path, inputs=inputs, cam=res.cam, extent=np.array(res.extent),
             offset=np.array(res.offset), explained_variance=res.explained_variance,
             sign_flipped=np.nan if res.sign_flipped is None else res.sign_flipped,
             converged=res.converged, image_shape=np.array(img.shape[:2]), error=res.error,
             fingerprint=fp, weights_label=label, warnings=notes, provenance=prov)
    keep_copy(path)
