"""``accelerate launch`` of ``star1 train`` with one of the shipped configs, on CPU processes (gloo), for the
multi-process tests: run to the end, or SIGKILL the whole launch once a checkpoint is complete."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCELERATE_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
TIMEOUT_S = 600


def _free_port() -> int:
    # Not accelerate's default 29500: another launch on the same machine may hold it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(config_name: str, processes: int, train_config: Path, out: Path) -> list[str]:
    # The shipped configs say bf16 for GPUs; on CPU star1 trains in fp32, and so must accelerate's wrapper.
    # No --cpu: with it accelerate starts one plain process whatever --num_processes says.
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCELERATE_CONFIGS / config_name),
            "--num_processes", str(processes), "--main_process_port", str(_free_port()), "--mixed_precision", "no",
            "-m", "star1.train", "--config", str(train_config), "--out", str(out)]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher and every process under it. Not the process group alone: torch's elastic agent
    starts each worker in a session of its own, and workers outlived a killpg of the launcher's group
    (they finished the run while the resumed one started)."""
    import psutil

    try:
        workers = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        workers = []
    proc.send_signal(signal.SIGKILL)
    for process in workers:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait()  # reaped here, not by psutil: subprocess reads a child reaped elsewhere as exit 0
    psutil.wait_procs(workers, timeout=30)


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-4000:]


def _log(out: Path, processes: int, what: str) -> Path:
    return out.with_name(f"{out.name}-{what}-{processes}p.log")


def run(config_name: str, processes: int, train_config: Path, out: Path) -> float:
    """Run to the end; the wall time in seconds."""
    log = _log(out, processes, "run")
    started = time.perf_counter()
    proc = _start(command(config_name, processes, train_config, out), log)
    try:
        returncode = proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise AssertionError(f"launch did not finish in {TIMEOUT_S} s:\n{_tail(log)}") from None
    assert returncode == 0, _tail(log)
    return time.perf_counter() - started


def run_and_kill(config_name: str, processes: int, train_config: Path, out: Path, checkpoint: str) -> float:
    """SIGKILL the launcher and all its workers as soon as ``checkpoints/<checkpoint>`` is complete (the
    Trainer writes its trainer_state.json last); the wall time in seconds."""
    log = _log(out, processes, "killed")
    done = out / "checkpoints" / checkpoint / "trainer_state.json"
    started = time.perf_counter()
    proc = _start(command(config_name, processes, train_config, out), log)
    try:
        while not done.exists():
            assert proc.poll() is None, f"the launch ended (exit {proc.returncode}) before {checkpoint}:\n{_tail(log)}"
            assert time.perf_counter() - started < TIMEOUT_S, f"no {checkpoint} in {TIMEOUT_S} s:\n{_tail(log)}"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            _kill(proc)
    assert proc.returncode == -signal.SIGKILL, f"the launch ended by itself (exit {proc.returncode})"
    return time.perf_counter() - started
