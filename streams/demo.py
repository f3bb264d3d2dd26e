"""``distillwatch demo``: the whole pipeline on one machine, with a live view.

Starts (in this order) the embedded tansu broker unless ``DISTILLWATCH_BROKER``
names a cluster, the topics, a worker process (``distillwatch worker``), the
simulator producing live traffic with ground-truth labels, and a consumer of
the alert and dead-letter topics that renders what arrives. Ctrl-C (or
``--duration``) stops them in reverse order; the worker is a child process
that also dies with this one (``PR_SET_PDEATHSIG``), so nothing is left
behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from pathlib import Path

import orjson
from pydantic import SecretStr

from .broker import BrokerError, EmbeddedBroker, die_with_parent, free_port
from .kafka_security import kafka_client_kwargs
from .settings import ENV_PREFIX, Settings
from .topics import ensure_topics

__all__ = ["run_demo", "WorkerProcess"]

SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "critical": "bold red"}


def _env_value(v: object) -> str:
    """A setting's value as its environment variable reads it back: secrets
    unmasked (the child needs the real value), lists as a JSON list."""
    if isinstance(v, SecretStr):
        return v.get_secret_value()
    if isinstance(v, (list, tuple)):
        return json.dumps([str(x) for x in v])
    return str(v)


class WorkerProcess:
    """A ``distillwatch worker`` child process with its own environment."""

    #: What the interpreter runs (tests start variants of the worker with the same settings).
    command: tuple[str, ...] = ("-m", "streams.cli", "worker")

    def __init__(self, settings: Settings, log_path: Path, env: dict[str, str] | None = None):
        self.settings = settings
        self.log_path = log_path
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        env = dict(os.environ)
        env.update({f"{ENV_PREFIX}{k.upper()}": _env_value(v) for k, v in self._setting_env().items()})
        env.update(self.env)
        env.pop(f"{ENV_PREFIX}CONFIG", None)  # the settings are passed explicitly
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, *self.command],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )
        return self

    def _setting_env(self) -> dict[str, object]:
        return {k: v for k, v in self.settings.model_dump().items() if v is not None}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything the worker left in its group
        self._log.close()
        return proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class AlertWatcher(threading.Thread):
    """Consumes the alert and dead-letter topics into memory for the view."""

    def __init__(self, bootstrap: str, settings: Settings, labels: dict[str, dict]):
        super().__init__(name="alert-watcher", daemon=True)
        self.bootstrap = bootstrap
        self.settings = settings
        self.labels = labels
        self.stop_event = threading.Event()
        self.recent: deque[dict] = deque(maxlen=18)
        self.alerts = 0
        self.dlq = 0
        self.by_severity: Counter = Counter()
        self.flagged: dict[str, str] = {}  # account -> highest severity seen
        self.first_alert_after: float | None = None
        self.started = time.monotonic()
        self.error: str | None = None

    def run(self) -> None:
        from kafka import KafkaConsumer

        try:
            consumer = KafkaConsumer(
                self.settings.alerts_topic,
                self.settings.dlq_topic,
                bootstrap_servers=self.bootstrap,
                **kafka_client_kwargs(self.settings),
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                group_id=None,
                consumer_timeout_ms=500,
            )
        except Exception as exc:  # shown in the view
            self.error = f"alert consumer: {exc}"
            return
        rank = {"info": 1, "warning": 2, "critical": 3}
        try:
            while not self.stop_event.is_set():
                for msg in consumer:
                    if msg.topic == self.settings.dlq_topic:
                        self.dlq += 1
                    else:
                        alert = orjson.loads(msg.value)
                        self.alerts += 1
                        self.by_severity[alert["severity"]] += 1
                        acct = alert["account_id"]
                        if rank[alert["severity"]] > rank.get(self.flagged.get(acct, ""), 0):
                            self.flagged[acct] = alert["severity"]
                        if self.first_alert_after is None:
                            self.first_alert_after = time.monotonic() - self.started
                        self.recent.appendleft(alert)
                    if self.stop_event.is_set():
                        break
        finally:
            consumer.close()


def _load_labels(path: Path) -> dict[str, dict]:
    labels = {}
    if path.exists():
        for line in path.read_bytes().splitlines():
            if line.strip():
                d = orjson.loads(line)
                labels[d["account_id"]] = d
    return labels


def _render(watcher: AlertWatcher, sim: dict, started: float, bootstrap: str):
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    labels = watcher.labels
    harvesters = {a for a, d in labels.items() if d["label"] == "harvester"}
    flagged_warn = {a for a, s in watcher.flagged.items() if s in ("warning", "critical")}
    tp = len(flagged_warn & harvesters)
    fp = len(flagged_warn - harvesters)
    elapsed = time.monotonic() - started
    head = Text.assemble(
        ("distillwatch demo", "bold"),
        f"   broker {bootstrap}   running {elapsed:5.0f} s   simulated {sim.get('hours', 0.0):5.2f} h   ",
        f"events sent {sim.get('events', 0):,}   alerts {watcher.alerts:,}   DLQ {watcher.dlq:,}\n",
        f"accounts at warning or above: {len(flagged_warn)} "
        f"({tp} of {len(harvesters)} harvesters, {fp} benign)   ",
        ("Ctrl-C to stop", "dim"),
    )
    table = Table(expand=True)
    for col in ("event time", "account", "truth", "status", "severity", "score", "top reasons"):
        table.add_column(col, overflow="fold")
    for a in watcher.recent:
        truth = labels.get(a["account_id"], {})
        arche = truth.get("archetype", "?")
        tstyle = "red" if truth.get("label") == "harvester" else "green"
        reasons = ", ".join(f"{r['signal']}={r['value']:.2f}" for r in a["reasons"][:3])
        table.add_row(
            a["detected_at"][11:19],
            a["account_id"],
            Text(arche, style=tstyle),
            a["status"],
            Text(a["severity"], style=SEVERITY_STYLE.get(a["severity"], "")),
            f"{a['score']:.2f}",
            reasons,
        )
    parts = [Panel(head), table]
    if watcher.error:
        parts.append(Text(watcher.error, style="red"))
    if not watcher.recent:
        parts.append(Text("waiting for the first alert (the worker joins its group, then accounts warm up)...",
                          style="dim"))
    return Group(*parts)


def run_demo(
    settings: Settings,
    *,
    speed: float = 60.0,
    scale: float = 0.25,
    seed: int = 7,
    duration: float | None = None,
    plain: bool = False,
    workdir: str | None = None,
) -> int:
    import simulator

    tmp = None
    if workdir:
        wd = Path(workdir)
        wd.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="distillwatch-demo-")
        wd = Path(tmp.name)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    # Ctrl-C, kill, or the terminal closing: stop everything in order.
    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    broker = None
    worker = None
    watcher = None
    sim_thread = None
    sim_state: dict = {"events": 0, "hours": 0.0}
    say = print if plain else (lambda *a, **k: None)
    try:
        if settings.broker:
            bootstrap = settings.broker
            print(f"using the configured broker {bootstrap}", flush=True)
        else:
            broker = EmbeddedBroker(log_path=wd / "tansu.log").start()
            bootstrap = broker.bootstrap
            print(f"embedded tansu broker on {bootstrap} (pid {broker.pid}, log {wd / 'tansu.log'})", flush=True)
            # tansu recovers changelogs only from one-record batches (shared/notes).
            settings = settings.with_overrides(producer_max_batch_size=1)
        settings = settings.with_overrides(
            broker=bootstrap,
            datadir=wd / "data",
            web_port=free_port(),  # never collide with a worker already running here
        )
        ensure_topics(settings)
        worker = WorkerProcess(settings, wd / "worker.log").start()
        print(f"worker pid {worker.proc.pid}, log {wd / 'worker.log'}, metrics "
              f"http://{settings.web_host}:{settings.web_port}/metrics", flush=True)

        labels_path = wd / "labels.jsonl"
        scenario = simulator.Scenario(seed=seed, hours=24.0, scale=scale, invalid_rate=0.001, keyless_rate=0.05)

        sim_state["t0"] = time.time()  # paced mode: event time starts at the wall clock

        def progress(done: int, sim_time: float) -> None:
            sim_state["events"] = done
            sim_state["hours"] = max(0.0, (sim_time - sim_state["t0"]) / 3600.0)

        def produce() -> None:
            try:
                counts = simulator.write_kafka(
                    scenario, bootstrap, settings.input_topic, speed=speed, labels_path=labels_path,
                    stop=stop, progress=progress, progress_every=200, security=kafka_client_kwargs(settings),
                )
                sim_state["events"] = counts.get("events", sim_state["events"])
                sim_state["done"] = True
            except Exception as exc:  # shown, then the demo stops
                sim_state["error"] = f"simulator: {exc}"
                stop.set()

        sim_thread = threading.Thread(target=produce, name="simulator", daemon=True)
        sim_thread.start()
        deadline = time.monotonic() + 10
        while not labels_path.exists() and time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.05)
        watcher = AlertWatcher(bootstrap, settings, _load_labels(labels_path))
        watcher.start()
        started = time.monotonic()
        end = started + duration if duration else None
        seen = 0
        if plain:
            while not stop.is_set() and (end is None or time.monotonic() < end):
                _check_worker(worker)
                new = watcher.alerts - seen
                for a in list(watcher.recent)[:new][::-1]:
                    truth = watcher.labels.get(a["account_id"], {}).get("archetype", "?")
                    reasons = ", ".join(f"{r['signal']}={r['value']:.2f}" for r in a["reasons"][:3])
                    say(f"ALERT {a['detected_at']} {a['account_id']} [{truth}] {a['status']} "
                        f"{a['severity']} score={a['score']:.2f} {reasons}", flush=True)
                seen += new
                time.sleep(0.5)
        else:
            from rich.live import Live

            with Live(_render(watcher, sim_state, started, bootstrap), refresh_per_second=2, screen=False) as live:
                while not stop.is_set() and (end is None or time.monotonic() < end):
                    _check_worker(worker)
                    live.update(_render(watcher, sim_state, started, bootstrap))
                    time.sleep(0.5)
        if "error" in sim_state:
            print(sim_state["error"], file=sys.stderr)
            return 1
        print(
            f"stopping: {sim_state['events']:,} events sent, {watcher.alerts:,} alerts "
            f"({dict(watcher.by_severity)}), {watcher.dlq:,} rejects on the DLQ"
            + (f", first alert after {watcher.first_alert_after:.0f} s" if watcher.first_alert_after else ""),
            flush=True,
        )
        return 0
    except (BrokerError, DemoError) as exc:
        print(f"distillwatch demo: {exc}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        if sim_thread is not None:
            sim_thread.join(timeout=10)
        if watcher is not None:
            watcher.stop_event.set()
            watcher.join(timeout=5)
        if worker is not None:
            worker.stop()
        if broker is not None:
            broker.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if tmp is not None:
            tmp.cleanup()


class DemoError(RuntimeError):
    """A part of the demo stopped working."""


def _check_worker(worker: WorkerProcess) -> None:
    if not worker.alive():
        raise DemoError("the worker process exited; its log ends with:\n" + worker.log_tail())
