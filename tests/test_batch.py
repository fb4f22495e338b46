"""Per-image freshness: fingerprints, source times, missing companions."""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from quickgaze.batch import fingerprint, is_fresh, run_stale, save_npz
from quickgaze.io import write_json


def test_fingerprint_depends_on_every_parameter():
    base = {"model": "m", "grid": "pool", "levels": ["0", "pool"]}
    assert fingerprint(base) == fingerprint(dict(reversed(base.items())))
    assert fingerprint(base) != fingerprint({**base, "grid": "0"})
    assert fingerprint(base) != fingerprint({**base, "levels": ["pool", "0"]})


def test_is_fresh(tmp_path):
    src = tmp_path / "image.png"
    src.write_bytes(b"x")
    rec = tmp_path / "rec.npz"
    fp = fingerprint({"a": 1})
    assert not is_fresh(rec, fp, [src])  # missing
    save_npz(rec, cam=np.zeros(2), fingerprint=fp)
    assert is_fresh(rec, fp, [src])
    assert not is_fresh(rec, fingerprint({"a": 2}), [src])  # other parameters
    os.utime(src, (rec.stat().st_mtime + 10, rec.stat().st_mtime + 10))
    assert not is_fresh(rec, fp, [src])  # source newer
    js = tmp_path / "rec.json"
    write_json(js, {"fingerprint": fp})
    assert is_fresh(js, fp, [])
    assert not is_fresh(js, fp, [], extra=[tmp_path / "missing.png"])
    js.write_text("{truncated")
    assert not is_fresh(js, fp, [])


def test_run_stale_computes_only_stale_items_in_chunks():
    seen = []
    n = run_stale(list("abcdefg"), lambda i: i in "bd", seen.append, chunk=2, what="test")
    assert n == 5
    assert seen == [["a", "c"], ["e", "f"], ["g"]]


def test_run_stale_on_threads_computes_each_stale_item_once_and_counts_them():
    seen, threads = [], set()

    def compute(chunk):
        threads.add(threading.get_ident())
        time.sleep(0.01)  # long enough for the second thread to take a chunk
        seen.extend(chunk)

    items = [f"i{k:02d}" for k in range(40)]
    n = run_stale(items, lambda i: i in ("i03", "i17"), compute, chunk=16, what="test",
                  workers=2)
    assert n == 38
    assert sorted(seen) == [i for i in items if i not in ("i03", "i17")]
    assert len(threads) == 2
