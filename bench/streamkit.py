"""Shared pieces of the stream benchmarks (bench-only; nothing in streams/ depends on it).

The stream benchmarks all need the same few things: simulated events, an
embedded broker, topics filled *before* timing starts, real ``distillwatch
worker`` processes whose progress is read from their ``/metrics``, and a
result file with the machine it ran on. Keeping them here keeps each
benchmark script about what it measures.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import os
import platform
import re
import statistics
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

import simulator  # noqa: E402
from detectors.engine import partition_for  # noqa: E402
from streams.broker import free_port, stop_group  # noqa: E402
from streams.demo import WorkerProcess  # noqa: E402
from streams.settings import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results"
#: Progress of a worker: every input event that reached a final outcome (``rekeyed`` is a hop, not an outcome).
FINAL_OUTCOMES = ("valid", "duplicate", "invalid")
_SAMPLE_RE = re.compile(r'^distillwatch_events_total\{outcome="(\w+)"\} ([0-9.e+]+)$', re.M)

Message = tuple[bytes | None, bytes, int | None]  # key, value, partition (None: the producer's partitioner)


def machine() -> dict:
    """What the figures were measured on: they mean little without it."""
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def simulated_events(n: int, seed: int = 11) -> list[tuple[str, bytes]]:
    """The first ``n`` simulated events (account id, event bytes), in event-time order, duplicates included."""
    out: list[tuple[str, bytes]] = []
    # ~87k events per simulated hour at scale 1 (never 150k): the doublings that could not give n are skipped
    hours = 1.0
    while hours * 150_000 < n:
        hours *= 2
    while len(out) < n:
        out = []
        for _ts, account, raw in simulator.generate(simulator.Scenario(seed=seed, hours=hours, scale=1.0)):
            out.append((account, raw))
            if len(out) >= n:
                break
        hours *= 2
    return out


def balanced_placement(events: list[tuple[str, bytes]], partitions: int) -> list[tuple[str, bytes]]:
    """The same events, with each account renamed so that the accounts fill the partitions evenly.

    The simulated accounts are heavy-tailed (a few harvesters send most requests), and where murmur2
    puts them decides how much each partition carries. Here the accounts, busiest first, go to the
    partition with the fewest events so far, under an id of the form ``<account>.<n>`` that hashes
    there; what the detector sees of each account is unchanged but its name.
    """
    load = Counter(account for account, _ in events)
    heap = [(0, p) for p in range(partitions)]
    rename: dict[str, str] = {}
    for account, n in load.most_common():
        total, p = heapq.heappop(heap)
        i = 0
        while partition_for(f"{account}.{i}".encode(), partitions) != p:
            i += 1
        rename[account] = f"{account}.{i}"
        heapq.heappush(heap, (total + n, p))
    out = []
    for account, raw in events:
        ev = orjson.loads(raw)
        ev["account_id"] = rename[account]
        out.append((rename[account], orjson.dumps(ev)))
    return out


def single_messages(events: Iterable[tuple[str, bytes]]) -> list[Message]:
    """One event per message, keyed by account id (kafka-python's murmur2 picks the partition)."""
    return [(account.encode(), raw, None) for account, raw in events]


def mixed_batches(events: list[tuple[str, bytes]], size: int, fmt: str) -> list[Message]:
    """What a log shipper sends: consecutive events of mixed accounts, keyless, ``size`` per message."""
    return [(None, _join([raw for _, raw in events[i:i + size]], fmt), None) for i in range(0, len(events), size)]


def partition_batches(events: list[tuple[str, bytes]], size: int, fmt: str, partitions: int) -> list[Message]:
    """What an account-keyed shipper sends: each batch holds events of one partition's accounts, sent there."""
    pending: dict[int, list[bytes]] = {}
    out: list[Message] = []
    for account, raw in events:
        p = partition_for(account.encode(), partitions)
        items = pending.setdefault(p, [])
        items.append(raw)
        if len(items) == size:
            out.append((None, _join(items, fmt), p))
            pending[p] = []
    out.extend((None, _join(items, fmt), p) for p, items in pending.items() if items)
    return out


class PartitionBatcher:
    """Paced events gathered the way an account-keyed shipper batches them: by their account's partition, a
    partition's events going out as one message once ``size`` wait (:meth:`add`) or once the first of them
    has waited ``wait`` seconds (:meth:`due`). What :meth:`add`, :meth:`due` and :meth:`drain` return is
    ``(partition, [event bytes])`` per message to send, every event once, in the order added."""

    def __init__(self, partitions: int, size: int, wait: float):
        if size < 1 or wait < 0:
            raise ValueError(f"a batch needs size >= 1 and wait >= 0, got {size} and {wait}")
        self.partitions, self.size, self.wait = partitions, size, wait
        self.pending: dict[int, list[bytes]] = {}
        self.first: dict[int, float] = {}  # when each partition's oldest pending event was added
        self.homes: dict[str, int] = {}  # murmur2 in Python: once per account

    def add(self, account: str, raw: bytes, now: float) -> list[tuple[int, list[bytes]]]:
        p = self.homes.get(account)
        if p is None:
            p = self.homes[account] = partition_for(account.encode(), self.partitions)
        items = self.pending.get(p)
        if items is None:
            items = self.pending[p] = []
            self.first[p] = now
        items.append(raw)
        if len(items) < self.size:
            return []
        del self.pending[p]
        return [(p, items)]

    def due(self, now: float) -> list[tuple[int, list[bytes]]]:
        out = [(p, items) for p, items in self.pending.items() if now - self.first[p] >= self.wait]
        for p, _ in out:
            del self.pending[p]
        return out

    def drain(self) -> list[tuple[int, list[bytes]]]:
        out, self.pending = list(self.pending.items()), {}
        return out


def _join(items: list[bytes], fmt: str) -> bytes:
    if fmt == "array":
        return b"[" + b",".join(items) + b"]"
    if fmt == "ndjson":
        return b"\n".join(items) + b"\n"
    raise ValueError(f"unknown batch format {fmt!r}")


def produce(bootstrap: str, topic: str, messages: Iterable[Message]) -> int:
    """Send everything and wait until the broker has it; returns how many messages were sent."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=1024 * 1024, acks=1,
                             enable_idempotence=False, max_request_size=16 * 1024 * 1024)
    n = 0
    try:
        for key, value, partition in messages:
            producer.send(topic, key=key, value=value, partition=partition)
            n += 1
        producer.flush()
    finally:
        producer.close()
    return n


def bench_settings(bootstrap: str, workdir: Path, tag: str | None = None, **overrides) -> Settings:
    """Worker settings with topics of their own (tests' ``unique_settings`` style), metrics served."""
    tag = tag or uuid.uuid4().hex[:8]
    base = dict(
        broker=bootstrap, app_id=f"dw-bench-{tag}", input_topic=f"in-{tag}", rekey_topic=f"rekey-{tag}",
        dlq_topic=f"dlq-{tag}", alerts_topic=f"alerts-{tag}", fingerprints_topic=f"fp-{tag}",
        labels_topic=f"labels-{tag}", evidence_topic=f"evidence-{tag}", actions_topic=f"actions-{tag}",
        datadir=workdir / "data", producer_max_batch_size=1,  # what distillwatch sets for tansu itself
        session_timeout=6.0, web_enabled=True, web_port=free_port(), log_level="warning",
    )
    base.update(overrides)
    return Settings(**base)


def metrics_text(settings: Settings, names: Iterable[str] = ()) -> str:
    """The worker's ``/metrics`` page; only the series ``names`` when given (``?name[]=``)."""
    query = "&".join(f"name[]={n}" for n in names)
    url = f"http://{settings.web_host}:{settings.web_port}/metrics" + (f"?{query}" if query else "")
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - our own worker on 127.0.0.1
        return resp.read().decode()


def processed(text: str) -> float:
    """Input events that reached a final outcome, from a ``/metrics`` page."""
    return sum(float(v) for k, v in _SAMPLE_RE.findall(text) if k in FINAL_OUTCOMES)


def sample(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


#: Events per stretch of a steady rate (:func:`steady_rate`).
STRETCH_EVENTS = 5_000


def steady_rate(points: Sequence[tuple[float, float]], stretch: float = STRETCH_EVENTS) -> int | None:
    """The median rate over consecutive stretches of at least ``stretch`` events, from ``(seconds, events
    done)`` points in time order: a run's usual speed, without the stalls the whole-window rate averages in
    (the bare Faust agent stalls 0.3-1 s in about half its runs here, which moves its rate by up to 30 %).
    None when the points make fewer than three stretches."""
    rates = []
    t0, n0 = points[0] if points else (0.0, 0.0)
    for t, n in points[1:]:
        if n - n0 >= stretch and t > t0:
            rates.append((n - n0) / (t - t0))
            t0, n0 = t, n
    return round(statistics.median(rates)) if len(rates) >= 3 else None


def all_busy(polls: Sequence[tuple[float, Sequence[float]]]) -> dict:
    """From polls ``(time, each worker's events done)`` of a group: when each worker last made progress
    (seconds after the first poll, ``stopped_s``), and the group's rate up to the first of those
    (``all_busy_s``, ``all_busy_events_per_s``, None when that is no time at all). On a finite topic a
    worker that runs out of input first leaves the others to finish alone; the whole window averages that
    tail in, this rate leaves it out."""
    if not polls:
        return {"stopped_s": [], "all_busy_s": 0.0, "all_busy_events_per_s": None}
    t0, first = polls[0]
    moved = [t0] * len(first)
    for (_, before), (t, counts) in zip(polls, polls[1:]):
        for i, (a, b) in enumerate(zip(before, counts)):
            if b > a:
                moved[i] = t
    t_busy = min(moved)
    n_busy = sum(next(counts for t, counts in polls if t == t_busy))
    busy = t_busy - t0
    return {"stopped_s": [round(t - t0, 2) for t in moved], "all_busy_s": round(busy, 2),
            "all_busy_events_per_s": round((n_busy - sum(first)) / busy) if busy > 0 else None}


class Workers:
    """Real ``distillwatch worker`` subprocesses, stopped (with their process groups) on exit."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.procs: list[WorkerProcess] = []

    def start(self, settings: Settings, timeout: float = 90.0) -> WorkerProcess:
        return self.start_together([settings], timeout)[0]

    def start_together(self, settings_list: Sequence[Settings], timeout: float = 90.0) -> list[WorkerProcess]:
        """Start a worker per settings, all before waiting for any, then wait until each serves ``/metrics``:
        workers of one group started together join it together, rather than the first reading the whole
        topic alone until the next one's start-up is done."""
        started = []
        for settings in settings_list:
            w = WorkerProcess(settings, self.workdir / f"worker-{len(self.procs)}-{settings.app_id}.log").start()
            self.procs.append(w)
            started.append((w, settings))
        deadline = time.monotonic() + timeout
        for w, settings in started:
            while True:
                if not w.alive():
                    raise RuntimeError("worker exited during start-up:\n" + w.log_tail(60))
                try:
                    metrics_text(settings)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("worker did not serve /metrics in time:\n" + w.log_tail(60)) from None
                    time.sleep(0.2)
        return [w for w, _ in started]

    def stop_all(self) -> None:
        for w in self.procs:
            w.stop()
        self.procs.clear()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def track(settings_list: list[Settings], target: float, max_seconds: float, idle_seconds: float = 60.0,
          interval: float = 0.25, pids: dict[str, int] | None = None) -> dict:
    """Poll the workers' ``/metrics`` until ``target`` events are done, ``max_seconds`` of processing passed,
    or nothing moved for ``idle_seconds``. The rate is taken from the first poll at which *every* worker had
    processed an event to the last poll that saw progress, so start-up, group joins and a second worker's
    join are not counted. ``pids``: processes whose CPU use (share of one core) over that window is reported."""
    pids = pids or {}
    t_first = t_last = None
    n_first = n_last = 0.0
    cpu_first = cpu_last = {}
    counts_last: list[float] = []
    points: list[tuple[float, float]] = []  # (time, events done) from the first poll counted on
    polls: list[tuple[float, list[float]]] = []  # (time, each worker's events done) from the first poll counted on
    t_start = time.monotonic()
    while True:
        now = time.monotonic()
        # only the counter read: rendering every metric four times a second cost the worker ~5 % of its CPU
        counts = [processed(metrics_text(s, ["distillwatch_events_total"])) for s in settings_list]
        n = sum(counts)
        if t_first is None and all(c > 0 for c in counts):
            t_first, n_first, cpu_first = now, n, {k: cpu_seconds(p) for k, p in pids.items()}
        if t_first is not None:
            polls.append((now, counts))
        if t_first is not None and n > n_last:
            points.append((now, n))
        if n > n_last:
            t_last, n_last, counts_last = now, n, counts
            cpu_last = {k: cpu_seconds(p) for k, p in pids.items()}
        if n >= target or (t_first is not None and now - t_first >= max_seconds):
            break
        if now - (t_last or t_start) > idle_seconds:
            break
        time.sleep(interval)
    span = (t_last - t_first) if t_first is not None and t_last is not None and t_last > t_first else 0.0
    res = {
        "events_done": int(n_last),
        "events_target": int(target),
        "complete": n_last >= target,
        "window_s": round(span, 2),
        "events_per_s": round((n_last - n_first) / span) if span > 0 else 0,
        "steady_events_per_s": steady_rate(points),
        "events_per_worker": [int(c) for c in counts_last],
    }
    if len(settings_list) > 1:
        res.update(all_busy(polls))
    if pids and span > 0:
        res["cpu_share"] = {k: round((cpu_last[k] - cpu_first[k]) / span, 2) for k in pids}
    if n_last:
        res["worker_us_per_event"] = stage_us_per_event(settings_list, n_last)
    return res


_STAGE_RE = re.compile(r'^distillwatch_stage_seconds_sum\{stage="(\w+)"\} ([0-9.e+-]+)$', re.M)


def stage_us_per_event(settings_list: list[Settings], events: float) -> dict[str, float]:
    """Where the workers' time went, from their own histograms: the seconds of each stage (decode, detect,
    state_write, emit) and of whole input messages (``message``: decode, detect and emit of one message, as
    the agent times it), in µs per event processed. Everything else (Faust, the Kafka clients, the event
    loop, the metrics of the stage timers themselves) is the rest of the wall time."""
    total: dict[str, float] = {}
    names = ["distillwatch_stage_seconds_sum", "distillwatch_message_process_seconds_sum"]
    for s in settings_list:
        text = metrics_text(s, names)
        for stage, secs in _STAGE_RE.findall(text):
            total[stage] = total.get(stage, 0.0) + float(secs)
        total["message"] = total.get("message", 0.0) + sample(text, "distillwatch_message_process_seconds_sum")
    return {k: round(v / events * 1e6, 1) for k, v in total.items()}


_GC_RE = re.compile(r'^distillwatch_gc_pause_seconds_(sum|count)\{generation="(\d)"\} ([0-9.e+-]+)$', re.M)


def gc_pauses(settings: Settings) -> dict[str, dict[str, float]]:
    """The worker's garbage-collector pauses since its start-up heap was frozen (``streams.cli``), by
    generation: how many and their total in ms."""
    return gc_pauses_in(metrics_text(settings, ["distillwatch_gc_pause_seconds_sum", "distillwatch_gc_pause_seconds_count"]))


def gc_pauses_in(text: str) -> dict[str, dict[str, float]]:
    """:func:`gc_pauses` from a ``/metrics`` page."""
    out: dict[str, dict[str, float]] = {}
    for kind, generation, value in _GC_RE.findall(text):
        g = out.setdefault(generation, {})
        if kind == "count":
            g["count"] = int(float(value))
        else:
            g["total_ms"] = round(float(value) * 1000, 1)
    return out


def send_buffer_waits(settings: Settings) -> dict[str, float]:
    """How often and how long (ms) Faust held fetched messages back from the worker's agent until its producer's
    send buffer drained (``distillwatch_producer_buffer_wait_seconds``: at every offset commit the changed
    account states are queued at once)."""
    names = ["distillwatch_producer_buffer_wait_seconds_count", "distillwatch_producer_buffer_wait_seconds_sum"]
    return send_buffer_waits_in(metrics_text(settings, names))


def send_buffer_waits_in(text: str) -> dict[str, float]:
    """:func:`send_buffer_waits` from a ``/metrics`` page."""
    return {"count": int(sample(text, "distillwatch_producer_buffer_wait_seconds_count")),
            "total_ms": round(sample(text, "distillwatch_producer_buffer_wait_seconds_sum") * 1000, 1)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _aiokafka_decode(bootstrap: str, topic: str, messages: int) -> dict:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from detectors.contract import decode_message

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=16 * 1024 * 1024)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in parts])
        seen = events = 0
        t0 = None
        while seen < messages:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if t0 is None and batches:
                t0 = time.perf_counter()
            for records in batches.values():
                for rec in records:
                    events += len(decode_message(rec.value))
                    seen += 1
        dt = time.perf_counter() - t0
    finally:
        await consumer.stop()
    return {"messages": seen, "events": events, "seconds": round(dt, 3), "events_per_s": round(events / dt)}


def aiokafka_decode(bootstrap: str, topic: str, messages: int) -> dict:
    """The bare loop: AIOKafkaConsumer over every partition, ``decode_message`` on each value, nothing else."""
    return asyncio.run(_aiokafka_decode(bootstrap, topic, messages))


def faust_decode(bootstrap: str, topic: str, partitions: int, events: int, workdir: Path,
                 timeout: float = 300.0, bunched: bool = False) -> dict:
    """The bare Faust agent of ``bench/faust_bare.py`` in its own process, until it has decoded ``events``
    (``bunched``: reading in bunches, as the worker's agent does)."""
    import subprocess

    out = workdir / f"faust-bare-{uuid.uuid4().hex[:8]}.json"
    env = dict(os.environ, BENCH_BROKER=bootstrap, BENCH_TOPIC=topic, BENCH_PARTITIONS=str(partitions),
               BENCH_EVENTS=str(events), BENCH_OUT=str(out), BENCH_APP_ID=f"bare-{uuid.uuid4().hex[:8]}",
               BENCH_DATADIR=str(workdir / "faust-bare"), BENCH_WEB_PORT=str(free_port()),
               BENCH_BUNCHES="1" if bunched else "0")
    log = open(workdir / "faust-bare.log", "ab")  # noqa: SIM115
    # -l info, not warn: at warn and error Faust's start-up spinner sets the root logger to DEBUG, and every
    # debug call of aiokafka and Faust then builds a record (the distillwatch worker runs without it)
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "faust_bare.py"), "worker", "-l", "info"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if not out.exists():
            tail = (workdir / "faust-bare.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"bare Faust agent did not finish (exit {proc.poll()}):\n{tail}")
        time.sleep(0.1)
        res = json.loads(out.read_text())
        res["steady_events_per_s"] = steady_rate(res.pop("points", []))
        return res
    finally:
        stop_group(proc, 15)
        log.close()


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def write_result(name: str, res: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(res, indent=2) + "\n")
    return path


def print_table(rows: list[list[object]], header: list[str]) -> None:
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def start_profile(pid: int, seconds: float, out: Path, rate: int = 100):
    """py-spy (the ``bench`` extra) sampling a process ``rate`` times a second without pausing it, collapsed
    stacks to ``out``."""
    import shutil
    import subprocess

    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[bench]'")
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
                             "--nonblocking", "--threads", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def profile_summary(path: Path, top: int = 40) -> dict:
    """Where the samples of a collapsed-stack file went: per thread (its first frames name it), and own and
    inclusive time per function."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    threads: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        thread, *frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if not frames:
            continue
        total += n
        name = f"{thread} {' > '.join(frames[:5])}"
        threads[name] = threads.get(name, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            incl[f] = incl.get(f, 0) + n

    def share(d: dict[str, int]) -> list[list]:
        return [[f, round(n / total, 3)] for f, n in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

    return {"samples": total, "threads": share(threads)[:8], "own": share(own), "inclusive": share(incl)}


def component_shares(path: Path, components: Iterable[tuple[str, Iterable[str]]], within: str | None = None,
                     rest: str = "other") -> tuple[int, dict[str, float]]:
    """The samples of a collapsed-stack file that count, and their share per component (largest first). A sample belongs to the component of its
    innermost frame whose function (``name (file)``, line numbers dropped) a component lists, else to
    ``rest``. With ``within``, only samples with a frame starting with it on the stack count (the rest of the
    process, such as imports, is left out)."""
    owner = {fn: name for name, fns in components for fn in fns}
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if within is not None and not any(f.startswith(within) for f in frames):
            continue
        n = int(count)
        total += n
        name = next((owner[f] for f in reversed(frames) if f in owner), rest)
        counts[name] = counts.get(name, 0) + n
    return total, {k: round(v / total, 3) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


#: Where a CPU sample of the worker belongs, by the compiled detection module it is in (Cython names its C
#: functions ``__pyx_<kind>_9detectors_<len><module>_<function>``): its innermost frame of a ``detectors``
#: module, if any, decides; :data:`PERF_FUNCTIONS` first, then the module.
PERF_MODULES = {
    "contract": "decode",
    "text": "detection: prompt text analysis",
    "models": "detection: models (anomaly, labels, population)",
    "hst": "detection: models (anomaly, labels, population)",
    "rules": "detection: features and rules at a scoring",
    "features": "detection: folding the event into the state",
    "state": "detection: folding the event into the state",
    "carray": "detection: folding the event into the state",
    "engine": "detection: scoring schedule and alert policy",
    "pipeline": "detection: scoring schedule and alert policy",
}
#: Functions that belong elsewhere than their module: (module, function name fragment) -> component.
PERF_FUNCTIONS = {
    ("features", "word_pairs"): "detection: prompt text analysis",  # word_pairs, _word_pairs_scan, _into, _fill
    ("features", "_scan_words"): "detection: prompt text analysis",
    ("features", "_crc_word"): "detection: prompt text analysis",
    ("features", "_topic_observe"): "detection: prompt text analysis",
    ("features", "_template_observe"): "detection: prompt text analysis",
    ("features", "template_signature"): "detection: prompt text analysis",
    ("features", "features"): "detection: features and rules at a scoring",
    ("engine", "request_hash"): "detection: duplicate check",
    ("engine", "_blake2b"): "detection: duplicate check",
    ("engine", "__g"): "detection: duplicate check",
    ("state", "dedup_seen"): "detection: duplicate check",
    ("state", "to_bytes"): "account state (de)serialisation",
    ("state", "from_bytes"): "account state (de)serialisation",
}
_PYX_RE = re.compile(r"__pyx_(?:pf|pw|f|tp\w*?)_9detectors_(\d+)(\w+)")


def perf_stacks(text: str) -> list[tuple[int, list[tuple[str, str]]]]:
    """The samples of ``perf script`` output (default fields, call graphs): each its thread id and a list of
    (symbol, object) from the innermost frame out."""
    samples: list[tuple[int, list[tuple[str, str]]]] = []
    frames: list[tuple[str, str]] | None = None
    tid = 0
    for line in text.splitlines():
        if not line.strip():
            if frames is not None:
                samples.append((tid, frames))
            frames = None
        elif not line[0].isspace():  # a sample's header line: comm, [pid/]tid, time, event
            frames = []
            m = re.search(r"\s(?:\d+/)?(\d+)\s+(?:\[\d+\]\s+)?\d+\.\d+:", line)
            tid = int(m.group(1)) if m else 0
        elif frames is not None:
            parts = line.split(None, 1)
            if len(parts) == 2:
                sym, _, obj = parts[1].rpartition(" (")
                frames.append((sym.split("+0x", 1)[0], obj.rstrip(")")))
    if frames is not None:
        samples.append((tid, frames))
    return samples


OTHER_THREADS = "other threads (Faust's consumer thread: fetching, parsing records)"
REST = "Faust, aiokafka, asyncio and the agent (Python)"


def perf_component(frames: list[tuple[str, str]]) -> str:
    """The component a sample's CPU time belongs to: the garbage collector wherever it runs; else the
    decode or detection stage of its innermost frame in a compiled ``detectors`` module; else, outside
    them, the kernel (a stack of kernel frames only) or the rest of the process (Faust, aiokafka, asyncio,
    the agent's own Python, the interpreter running them)."""
    if any(sym.startswith("gc_collect") for sym, _ in frames):
        return "garbage collector"
    for sym, _ in frames:
        m = _PYX_RE.search(sym)
        if m is None:
            continue
        n = int(m.group(1))
        module, function = m.group(2)[:n], m.group(2)[n:]
        for (mod, fragment), component in PERF_FUNCTIONS.items():
            if mod == module and fragment in function:
                return component
        if module in PERF_MODULES:
            return PERF_MODULES[module]
    if frames and all(obj.startswith("[kernel") for _, obj in frames):
        return "kernel (network, scheduling)"
    return REST


def perf_components(text: str, main_tid: int | None = None) -> dict:
    """The share of ``perf script`` samples per :func:`perf_component`, largest first, and the decode and
    detection totals. With ``main_tid`` (a process's id is its main thread's), the samples of its other
    threads count as :data:`OTHER_THREADS`, whatever their frames."""
    counts = Counter(OTHER_THREADS if main_tid is not None and tid != main_tid else perf_component(frames)
                     for tid, frames in perf_stacks(text))
    total = sum(counts.values())
    shares = {k: round(v / total, 3) for k, v in counts.most_common()} if total else {}
    return {
        "samples": total,
        "shares": shares,
        "decode": round(counts["decode"] / total, 3) if total else 0.0,
        "detection": round(sum(v for k, v in counts.items() if k.startswith("detection")) / total, 3)
        if total else 0.0,
    }


class PerfRecord:
    """``perf record`` with DWARF call graphs on a running process (``pid``) until :meth:`stop`, then its
    samples by :func:`perf_components`. Needs Linux ``perf`` (Debian: ``linux-perf``) and the right to
    trace the process (root, or ``kernel.perf_event_paranoid`` <= 1)."""

    def __init__(self, pid: int, out: Path, rate: int = 499):
        import shutil
        import subprocess

        exe = shutil.which("perf")
        if exe is None:
            raise RuntimeError("perf is not installed (Debian: apt-get install linux-perf)")
        self.exe, self.out, self.pid = exe, out, pid
        self.log = out.with_suffix(".log")
        self.cpu_at_start = cpu_seconds(pid)
        with open(self.log, "wb") as log:  # perf's messages to a file: a pipe nobody reads could fill up
            self.proc = subprocess.Popen([exe, "record", "-F", str(rate), "--call-graph", "dwarf,16384",
                                          "-p", str(pid), "-o", str(out)], stdout=subprocess.DEVNULL, stderr=log)
        time.sleep(0.2)
        if self.proc.poll() is not None:
            raise RuntimeError("perf record failed: " + self.log.read_text(errors="replace")[-500:])

    def stop(self) -> dict:
        """Stop sampling; the components, and the CPU seconds the process used while sampled."""
        import signal
        import subprocess

        cpu = cpu_seconds(self.pid) - self.cpu_at_start
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=120)
        text = subprocess.run([self.exe, "script", "-i", str(self.out)], capture_output=True, text=True,
                              check=True).stdout
        return {**perf_components(text, main_tid=self.pid), "cpu_seconds": round(cpu, 2)}
