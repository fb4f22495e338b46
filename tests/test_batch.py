"""Per-image freshness: fingerprints and the content identities of a record's inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import numpy as np

from quickgaze.io.files import write_json
from quickgaze.io.records import (
    content_token,
    file_identity,
    fingerprint,
    input_tokens,
    output_tokens,
    record_token,
    save_npz,
)
from quickgaze.pipeline.batches import run_stale
from quickgaze.pipeline.freshness import changed_since_done, is_fresh


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
    js.write_text("{truncated")
    assert not is_fresh(js, fp, {"cam": rec})


def test_is_fresh_compares_the_contents_of_the_files_written_with_a_record(tmp_path):
    """A metrics record stores its smoothed map's identity: a truncated, replaced or
    missing map makes it stale, an equal copy does not."""
    smooth, js, fp = tmp_path / "smooth.png", tmp_path / "rec.json", fingerprint({"a": 1})
    smooth.write_bytes(b"png bytes")
    write_json(js, {"fingerprint": fp, "input_tokens": {},
                    "output_tokens": output_tokens({"smooth": smooth})})
    assert is_fresh(js, fp, outputs={"smooth": smooth})
    shutil.copy(smooth, tmp_path / "copy")
    os.replace(tmp_path / "copy", smooth)  # equal bytes, new file and date
    assert is_fresh(js, fp, outputs={"smooth": smooth})
    with open(smooth, "r+b") as fh:
        fh.truncate(3)
    assert not is_fresh(js, fp, outputs={"smooth": smooth})
    smooth.write_bytes(b"png bytex")  # same size, other bytes
    assert not is_fresh(js, fp, outputs={"smooth": smooth})
    smooth.unlink()
    assert not is_fresh(js, fp, outputs={"smooth": smooth})
    write_json(js, {"fingerprint": fp, "input_tokens": {}})  # a record that stored none
    assert not is_fresh(js, fp, outputs={"smooth": smooth})


def _age(path, seconds=3600):
    """Give ``path`` an old modification date, as cp -p, rsync -a or tar do."""
    old = time.time() - seconds
    os.utime(path, (old, old), follow_symlinks=False)


def test_changed_since_done_sees_any_change_after_the_stamp_whatever_the_dates(tmp_path):
    names = ["copied", "moved", "touched", "chmodded", "linked", "kept", "removed", "folder"]
    files = {n: tmp_path / n for n in names}
    for n, f in files.items():
        if n == "folder":
            f.mkdir()
            (f / "inner").write_bytes(b"a")
        elif n != "linked":
            f.write_bytes(n.encode())
    (tmp_path / "target_a").write_bytes(b"a")
    (tmp_path / "target_b").write_bytes(b"b")  # made before the stamp
    files["linked"].symlink_to(tmp_path / "target_a")
    spare = tmp_path / "spare"
    spare.write_bytes(b"made before the stamp")
    _age(spare)
    time.sleep(0.05)
    stamp = tmp_path / "done"
    stamp.touch()
    done = {n: str(stamp) for n in names}
    watched = {n: [str(f)] for n, f in files.items()}
    assert changed_since_done(done, watched) == {}
    time.sleep(0.05)
    other = tmp_path / "other"
    other.write_bytes(b"other content")
    _age(other)
    subprocess.run(["cp", "-p", str(other), str(files["copied"])], check=True)
    _age(files["copied"])  # and older still
    os.replace(spare, files["moved"])  # an old file moved over it
    _age(files["touched"])  # utime to an old date (touch -d)
    os.chmod(files["chmodded"], 0o600)
    files["linked"].unlink()
    files["linked"].symlink_to(tmp_path / "target_b")  # the link points at an old file
    _age(files["linked"])
    files["removed"].unlink()
    (files["folder"] / "inner").write_bytes(b"b")
    _age(files["folder"] / "inner")
    _age(files["folder"])
    changed = changed_since_done(done, watched)
    assert changed == {n: [str(files[n])] for n in names if n not in {"kept", "removed"}}
    # A job that has not succeeded (no stamp) is not checked: it runs anyway.
    assert changed_since_done({"kept": str(tmp_path / "absent")}, watched) == {}


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
