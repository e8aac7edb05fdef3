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
    # Its own process group: a kill or a timeout ends the launcher and every worker together.
    return subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-4000:]


def run(config_name: str, processes: int, train_config: Path, out: Path) -> float:
    """Run to the end; the wall time in seconds."""
    log = out.with_name(out.name + ".log")
    started = time.perf_counter()
    proc = _start(command(config_name, processes, train_config, out), log)
    try:
        returncode = proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"launch did not finish in {TIMEOUT_S} s:\n{_tail(log)}") from None
    assert returncode == 0, _tail(log)
    return time.perf_counter() - started


def run_and_kill(config_name: str, processes: int, train_config: Path, out: Path, checkpoint: str) -> float:
    """SIGKILL the launcher and its workers as soon as ``checkpoints/<checkpoint>`` is complete (the
    Trainer writes its trainer_state.json last); the wall time in seconds."""
    log = out.with_name(out.name + ".log")
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
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the launch ended by itself (exit {proc.returncode})"
    return time.perf_counter() - started
