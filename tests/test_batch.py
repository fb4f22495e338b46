"""Per-image freshness: fingerprints and the content identities of a record's inputs."""

from __future__ import annotations

import os
import shutil
import threading
import time

import numpy as np

from quickgaze.io.files import write_json
from quickgaze.io.records import (
    content_token,
    file_identity,
    fingerprint,
    input_tokens,
    record_token,
    save_npz,
)
from quickgaze.pipeline.batches import run_stale
from quickgaze.pipeline.freshness import is_fresh


def test_fingerprint_depends_on_every_parameter():
    base = {"model": "m", "grid": "pool", "levels": ["0", "pool"]}
    assert fingerprint(base) == fingerprint(dict(reversed(base.items())))
    assert fingerprint(base) != fingerprint({**base, "grid": "0"})
    assert fingerprint(base) != fingerprint({**base, "levels": ["pool", "0"]})


def test_is_fresh_compares_fingerprints_and_input_contents(tmp_path):
    src = tmp_path / "image.png"
    src.write_bytes(b"x")
    rec = tmp_path / "rec.npz"
    fp = fingerprint({"a": 1})
    assert not is_fresh(rec, fp, {"image": src})  # missing
    save_npz(rec, inputs={"image": src}, cam=np.zeros(2), fingerprint=fp)
    assert is_fresh(rec, fp, {"image": src})
    assert not is_fresh(rec, fingerprint({"a": 2}), {"image": src})  # other parameters
    assert not is_fresh(rec, fp, {"image": src, "weights": src})  # another input
    file_identity.cache_clear()  # a new job
    src.write_bytes(b"y")
    assert not is_fresh(rec, fp, {"image": src})  # edited source, whatever its date
    js = tmp_path / "rec.json"
    write_json(js, {"fingerprint": fp, "input_tokens": input_tokens({"cam": rec})})
    assert is_fresh(js, fp, {"cam": rec})
    assert not is_fresh(js, fp, {"cam": rec}, extra=[tmp_path / "missing.png"])
    js.write_text("{truncated")
    assert not is_fresh(js, fp, {"cam": rec})


def test_freshness_ignores_dates_restored_backups_and_copies(tmp_path):
    """A stale record restored with a new date (as Snakemake restores update() backups
    with shutil.copy) stays stale; a current one copied or touched stays fresh."""
    src = tmp_path / "image.png"
    src.write_bytes(b"old")
    rec = tmp_path / "rec.npz"
    fp = fingerprint({"a": 1})
    save_npz(rec, inputs={"image": src}, cam=np.zeros(2), fingerprint=fp)
    backup = tmp_path / "backup.npz"
    shutil.copy(rec, backup)
    file_identity.cache_clear()
    src.write_bytes(b"new")  # the image is edited ...
    shutil.copy(backup, rec)  # ... and the old record restored, now newer than the image
    assert rec.stat().st_mtime >= src.stat().st_mtime
    assert not is_fresh(rec, fp, {"image": src})
    save_npz(rec, inputs={"image": src}, cam=np.zeros(2), fingerprint=fp)
    os.utime(src, (rec.stat().st_mtime + 100,) * 2)  # the image looks newer: still fresh
    assert is_fresh(rec, fp, {"image": src})


def test_record_token_is_the_content_identity(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_npz(a, cam=np.arange(3.0), fingerprint="f")
    time.sleep(0.01)
    save_npz(b, cam=np.arange(3.0), fingerprint="f")
    assert record_token(a) == record_token(b)  # same content, other write: same token
    save_npz(b, cam=np.arange(3.0) + 1, fingerprint="f")
    assert record_token(a) != record_token(b)
    assert content_token({"x": np.zeros(2, np.float32)}) != content_token(
        {"x": np.zeros(2, np.float64)})


def test_file_identity_of_folders_and_missing_files(tmp_path):
    folder = tmp_path / "mats"
    folder.mkdir()
    (folder / "a.mat").write_bytes(b"1")
    first = file_identity(str(folder))
    file_identity.cache_clear()
    (folder / "b.mat").write_bytes(b"2")
    assert file_identity(str(folder)) != first
    assert file_identity(str(tmp_path / "nothing")) is None


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
