"""A real single-node SLURM on localhost, for tests of the SLURM profile.

Installs the Debian packages (munge, slurmctld, slurmd, slurm-client) if
``sbatch`` is missing, writes munge and slurm configuration into a private
state directory, starts ``munged``, ``slurmctld`` and ``slurmd`` in the
foreground as child processes (no systemd) and stops exactly those pids.
Nothing under /etc is used: clients find the cluster through ``SLURM_CONF``
(see :meth:`LocalSlurm.env`), and the ports are free ones picked at start, so
another SLURM on the machine is left alone.

Facts and traps: shared/notes/slurm-localhost.md. Without slurmdbd, ``sacct``
fails, so Snakemake must be told ``--slurm-status-command squeue`` (the plugin
trusts squeue only when MinJobAge is long enough: 3600 s here, so that the test
also sees every job of a run that takes minutes on a loaded machine).

Command line (for trying the profile by hand)::

    python tests/slurm_localhost.py up STATE_DIR     # prints the env to export
    python tests/slurm_localhost.py down STATE_DIR   # stops the recorded pids
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client")
NODE = "qgnode"
PARTITION = "debug"
FAKE_GPU = "fake"


def unavailable_reason() -> str | None:
    """Why a localhost SLURM cannot be set up here, or None when it can."""
    if os.geteuid() != 0:
        return "a localhost SLURM needs root (apt-get install, slurmd runs jobs as any user)"
    if shutil.which("sbatch") is None and shutil.which("apt-get") is None:
        return "sbatch is not installed and apt-get is missing to install it"
    return None


def install() -> None:
    """apt-get install the SLURM packages when ``sbatch``/``slurmctld`` are missing."""
    if all(shutil.which(b) for b in ("sbatch", "slurmctld", "slurmd", "munged")):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:  # package lists may be missing on a fresh image
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_topology() -> str:
    """``CPUs=.. Boards=.. ... RealMemory=..`` as ``slurmd -C`` reports this machine."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("NodeName="))
    return " ".join(line.split()[1:])


class LocalSlurm:
    """munged + slurmctld + slurmd for one node, state under ``root``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.pidfile = self.root / "pids"

    def env(self) -> dict[str, str]:
        """Environment for SLURM clients (sbatch, squeue, scancel) and Snakemake."""
        return {"SLURM_CONF": str(self.conf),
                "PATH": f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}

    def _write_srun_shim(self) -> None:
        # snakemake-executor-plugin-slurm-jobstep (0.6.1) drops every SLURM_* variable,
        # SLURM_CONF included, before its `srun` inside the job; a real cluster keeps its
        # slurm.conf at the standard path, ours is private, so srun gets it from a shim.
        shim = self.root / "bin" / "srun"
        shim.parent.mkdir(exist_ok=True)
        shim.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec {shutil.which("srun")} "$@"\n')
        shim.chmod(0o755)

    def _write_config(self) -> None:
        munge_dir = self.root / "munge"
        munge_dir.mkdir(parents=True, exist_ok=True)
        key = munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        munge = pwd.getpwnam("munge")
        for p in (munge_dir, key):
            os.chown(p, munge.pw_uid, munge.pw_gid)
        munge_dir.chmod(0o755)  # root's slurm daemons must reach the socket
        key.chmod(0o600)
        for sub in ("ctld", "spool", "log"):
            (self.root / sub).mkdir(exist_ok=True)
        r = self.root
        self.conf.write_text("\n".join([
            "ClusterName=quickgaze",
            f"SlurmctldHost={socket.gethostname().split('.')[0]}(127.0.0.1)",
            "MailProg=/bin/true",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={r}/ctld",
            f"SlurmdSpoolDir={r}/spool",
            f"SlurmctldPidFile={r}/slurmctld.pid",
            f"SlurmdPidFile={r}/slurmd.pid",
            f"SlurmctldLogFile={r}/log/slurmctld.log",
            f"SlurmdLogFile={r}/log/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "DefMemPerCPU=1000",
            "EnforcePartLimits=ALL",   # an impossible request fails at sbatch, never pends
            "ReturnToService=2",
            "MinJobAge=3600",          # squeue is trusted, and the test sees every job of a slow run
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "MpiDefault=none",
            "GresTypes=gpu",
            "SchedulerType=sched/backfill",
            f"NodeName={NODE} NodeAddr=127.0.0.1 {node_topology()} Gres=gpu:{FAKE_GPU}:1",
            f"PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        # One fake GPU, so that `--gpus=1` (CAM jobs) is scheduled like on a GPU node;
        # the job sees CUDA_VISIBLE_DEVICES but no CUDA device, and runs on the CPU.
        (self.root / "gres.conf").write_text(f"NodeName={NODE} Name=gpu Type={FAKE_GPU} "
                                             "File=/dev/null\n")

    def start(self, timeout: float = 60.0) -> None:
        """Write the configuration, start the three daemons, wait for an idle node."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # munged runs as user munge and must reach its directory
        self._write_config()
        self._write_srun_shim()
        with open(self.root / "log" / "daemons.out", "ab") as log:  # the children keep it open
            self._spawn(log, timeout)

    def _spawn(self, log, timeout: float) -> None:
        munge_dir = self.root / "munge"
        procs: list[subprocess.Popen] = []
        try:
            procs.append(subprocess.Popen(
                ["munged", "-F", f"--socket={self.munge_socket}",
                 f"--key-file={munge_dir / 'munge.key'}", f"--log-file={munge_dir / 'munged.log'}",
                 f"--pid-file={munge_dir / 'munged.pid'}", f"--seed-file={munge_dir / 'seed'}"],
                user="munge", stdout=log, stderr=log, start_new_session=True))
            self._record(procs)
            self._wait(lambda: self.munge_socket.exists(), 10, "munged socket")
            env = {**os.environ, **self.env()}
            procs.append(subprocess.Popen(["slurmctld", "-D", "-i", "-f", str(self.conf)],
                                          stdout=log, stderr=log, env=env,
                                          start_new_session=True))
            self._record(procs)
            procs.append(subprocess.Popen(["slurmd", "-D", "-N", NODE, "-f", str(self.conf)],
                                          stdout=log, stderr=log, env=env,
                                          start_new_session=True))
            self._record(procs)
            self._wait(self._node_idle, timeout, f"node {NODE} idle")
        except Exception:
            self.stop()
            raise

    def _record(self, procs: list[subprocess.Popen]) -> None:
        self.pidfile.write_text("".join(f"{p.pid}\n" for p in procs))
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[0]} exited with {p.returncode}; "
                                   f"see {self.root / 'log'}")

    def _node_idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True,
                             env={**os.environ, **self.env()}, check=False)
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def _wait(self, ready, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ready():
                return
            time.sleep(0.5)
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}"
                         for p in sorted((self.root / "log").glob("*")) if p.is_file())
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the recorded pids (slurmd, slurmctld, munged, in that order)."""
        if not self.pidfile.exists():
            return
        pids = [int(x) for x in self.pidfile.read_text().split()]
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            end = time.monotonic() + timeout
            while time.monotonic() < end and _alive(pid):
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it when it is our exited child."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child (the CLI's `down`): fall back to a signal probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() \
        else "X"
    return state not in ("Z", "X")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("up", "down"):
        sys.exit(__doc__)
    cluster = LocalSlurm(sys.argv[2])
    if sys.argv[1] == "up":
        if reason := unavailable_reason():
            sys.exit(reason)
        install()
        cluster.start()
        print("".join(f"export {k}='{v}'\n" for k, v in cluster.env().items()), end="")
    else:
        cluster.stop()
