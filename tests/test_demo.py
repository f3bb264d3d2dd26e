"""`distillwatch demo` (what `make demo` runs): alerts arrive, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

HARVESTER_ARCHETYPES = {
    "reasoning_harvester",
    "logprob_harvester",
    "template_sweeper",
    "hydra_member",
    "low_and_slow",
    "compromised_key",
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def _start_demo(tmp_path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLWATCH_")}
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "demo", "--plain", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def test_demo_shows_a_harvester_alert_and_ctrl_c_stops_everything(tmp_path):
    proc = _start_demo(tmp_path)
    lines: list[str] = []
    first_alert = None
    started = time.monotonic()
    try:
        deadline = started + 120  # the bound: an alert within two minutes
        for line in proc.stdout:
            lines.append(line)
            m = re.match(r"ALERT \S+ \S+ \[(\w+)\]", line)
            if m and m.group(1) in HARVESTER_ARCHETYPES:
                first_alert = time.monotonic() - started
                break
            if time.monotonic() > deadline:
                break
        assert first_alert is not None, "no harvester alert within 120 s:\n" + "".join(lines)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, _ = proc.communicate(timeout=60)
        lines.append(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(lines)
    assert proc.returncode == 0, text
    assert "stopping:" in text
    broker = re.search(r"embedded tansu broker on 127\.0\.0\.1:(\d+) \(pid (\d+)", text)
    worker = re.search(r"worker pid (\d+)", text)
    assert broker and worker, text
    port, broker_pid, worker_pid = int(broker.group(1)), int(broker.group(2)), int(worker.group(1))
    assert not _alive(broker_pid) and not _alive(worker_pid)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the broker port still accepts connections"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP], ids=["killed", "terminal-closed"])
def test_demo_killed_or_hung_up_leaves_no_process_behind(tmp_path, sig):
    proc = _start_demo(tmp_path)
    text = ""
    try:
        for line in proc.stdout:
            text += line
            if line.startswith("worker pid"):
                break
        broker_pid = int(re.search(r"\(pid (\d+)", text).group(1))
        worker_pid = int(re.search(r"worker pid (\d+)", text).group(1))
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (_alive(broker_pid) or _alive(worker_pid)):
        time.sleep(0.2)
    assert not _alive(broker_pid), "broker outlived the demo"
    assert not _alive(worker_pid), "worker outlived the demo"
