"""Reference values from pysaliency, run inside its own environment (numpy<2).

Usage: ``python pysaliency_reference.py metrics cases.npz out.json``: cases.npz
holds ``gt`` (H, W), ``preds`` (k, H, W), ``fixated`` (flat indices), ``borji``
and ``shuffled`` (n_splits, n) flat indices of negatives; out.json gets each
pred's metrics. ``python pysaliency_reference.py directory cases.npz out.npz``:
cases.npz holds ``images`` (stimulus file paths), ``maps`` (a directory of maps
named by stimulus stem, as ``quickgaze cam`` writes), ``x``, ``y``, ``n``
(fixations: column, row, stimulus index); out.npz gets the map pysaliency's
``SaliencyMapModelFromDirectory`` reads for each stimulus (``map_<k>``) and its
NSS per stimulus (``nss``). pysaliency's package
``__init__`` imports torch, which this environment lacks, so its modules are
loaded from the package directory without running ``__init__``.
"""

import importlib.util
import json
import sys
import types

import numpy as np

spec = importlib.util.find_spec("pysaliency")
package = types.ModuleType("pysaliency")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["pysaliency"] = package

from pysaliency import metrics
from pysaliency.datasets import FileStimuli, Fixations
from pysaliency.precomputed_models import SaliencyMapModelFromDirectory
from pysaliency.roc_cython import general_roc

mode, cases, target = sys.argv[1], np.load(sys.argv[2]), sys.argv[3]
if mode == "directory":
    stimuli = FileStimuli([str(p) for p in cases["images"]])
    model = SaliencyMapModelFromDirectory(stimuli, str(cases["maps"]))
    fixations = Fixations.create_without_history(cases["x"], cases["y"], cases["n"])
    maps = {f"map_{k}": model.saliency_map(stimuli[k]) for k in range(len(stimuli))}
    nss = [float(np.mean(metrics.NSS(maps[f"map_{k}"], cases["x"][cases["n"] == k],
                                     cases["y"][cases["n"] == k]))) for k in range(len(stimuli))]
    np.savez(target, nss=np.array(nss), **maps)
    sys.exit(0)
assert mode == "metrics", mode
gt, fixated = cases["gt"], cases["fixated"]
h, w = gt.shape
ys, xs = np.divmod(fixated, w)
out = []
for pred in cases["preds"]:
    flat = pred.astype(np.float64).ravel()
    unfixated = np.delete(flat, fixated)
    out.append({
        "cc": float(metrics.CC(pred.astype(np.float64), gt.astype(np.float64))),
        "kld": float(metrics.MIT_KLDiv(pred.astype(np.float64), gt.astype(np.float64))),
        "sim": float(metrics.SIM(pred.astype(np.float64), gt.astype(np.float64))),
        # pysaliency's SIM skips the MIT code's min-max step: apply it here.
        "sim_minmax": float(metrics.SIM((flat - flat.min()).reshape(pred.shape)
                                        / (flat.max() - flat.min()), gt.astype(np.float64))),
        "nss": float(np.mean(metrics.NSS(pred.astype(np.float64), xs, ys))),
        # Judd: thresholds at the fixated values, negatives all unfixated pixels.
        "auc_judd": float(general_roc(flat[fixated], unfixated, judd=1)[0]),
        # Borji and shuffled AUC with every threshold (the limit of a fine step).
        "auc_borji_exact": float(np.mean([general_roc(flat[fixated], flat[row])[0]
                                          for row in cases["borji"]])),
        "sauc_exact": float(np.mean([general_roc(flat[fixated], flat[row])[0]
                                     for row in cases["shuffled"]])),
    })
with open(target, "w") as fh:
    json.dump(out, fh)
