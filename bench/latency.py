"""Event-to-alert latency of one worker at half of its measured maximum throughput.

    .venv/bin/python bench/latency.py [--rate EVENTS_PER_S] [--seconds 60] [--batch N [--batch-wait S]]

Starts an embedded tansu broker and one ``distillwatch worker``, waits until the
worker has joined its group (a probe event is processed), then produces simulated
events one per message, keyed by account id, at a steady ``--rate`` for ``--seconds``.
With ``--batch N`` the events go as an account-keyed shipper sends them: gathered by
their account's partition and sent there as JSON arrays, once N wait or after
``--batch-wait`` seconds (``bench.streamkit.PartitionBatcher``); the per-partition
arrays of ``bench/stream_throughput.py``, at a pace. Each event's ``timestamp`` is
rewritten to the wall-clock time its message is produced (a shipper's own wait is not
the pipeline's), so the simulated day runs compressed and the alert's ``detected_at``
(the event time of the event that raised it, docs/outputs.md) is the produce time of
that event. Latency is

* ``record``: the alert record's Kafka CreateTime (set by the worker's producer when it
  sends the alert) minus ``detected_at``;
* ``seen``: the wall-clock time a consumer in this process received the alert minus
  ``detected_at`` (adds the consumer's fetch wait, at most 20 ms here).

Both clocks are this machine's. With ``--input-baseline`` the same consumer also reads
the input topic: how long after its produce time each event reached a plain
kafka-python consumer is the broker's and a client's share, without the worker (that
consumer's load slows the worker on a 2-core host, so it is off by default). ``--rate`` defaults to half of the worker's
rate for the same shape (single events, or per-partition arrays with ``--batch``) in
``bench/results/stream_throughput.json``. Alerts of status ``linked`` come
from the coordination loop (fingerprint → evidence) and are reported apart. Prints a
table and writes ``bench/results/latency.json`` (``--result NAME``: ``NAME.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import streamkit as sk  # noqa: E402

from detectors.contract import format_timestamp, parse_timestamp  # noqa: E402
from detectors.engine import partition_for  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402

TARGET_P99_S = 2.0
_TS_RE = re.compile(rb'"timestamp":(?:"[^"]*"|[0-9.eE+-]+)')  # RFC 3339 text or Unix seconds


class AlertReader(threading.Thread):
    """Reads the alert topic from the start; keeps (received wall time, record CreateTime, alert). Also reads
    the input topic and keeps how long after its produce time each event reached this plain consumer: the
    broker's and a client's share of the latency, without the worker."""

    def __init__(self, bootstrap: str, topic: str, input_topic: str | None):
        super().__init__(name="alert-reader", daemon=True)
        self.bootstrap, self.topic, self.input_topic = bootstrap, topic, input_topic
        self.stop = threading.Event()
        self.seen: list[tuple[float, float, int, dict]] = []
        self.delivery: list[float] = []

    def run(self) -> None:
        from kafka import KafkaConsumer

        topics = [self.topic] + ([self.input_topic] if self.input_topic else [])
        consumer = KafkaConsumer(*topics, bootstrap_servers=self.bootstrap,
                                 auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                                 fetch_max_wait_ms=20)
        started = time.time()
        try:
            while not self.stop.is_set():
                for tp, records in consumer.poll(timeout_ms=100).items():
                    now = time.time()
                    for rec in records:
                        if tp.topic == self.topic:
                            alert = json.loads(rec.value)
                            self.seen.append((now, rec.timestamp / 1000.0, rec.timestamp_type, alert))
                            continue
                        produced = parse_timestamp(_TS_RE.search(rec.value).group(0)[12:].strip(b'"').decode())
                        if produced >= started:  # not the probe
                            self.delivery.append(now - produced)
        finally:
            consumer.close()


def default_rate(shape: str) -> float:
    path = sk.RESULTS / "stream_throughput.json"
    try:
        return json.loads(path.read_text())["runs"][shape]["worker"]["events_per_s"] / 2
    except (OSError, KeyError, ValueError):
        sys.exit(f"no {shape} worker rate in {path}: run bench/stream_throughput.py first or pass --rate")


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def stamp_now(raws: list[bytes]) -> list[bytes]:
    """The events' bytes with their ``timestamp`` set to now."""
    stamp = b'"timestamp":"' + format_timestamp(time.time()).encode() + b'"'
    return [_TS_RE.sub(stamp, raw, count=1) for raw in raws]


def stamped(events: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The (account, event) pairs with each event's ``timestamp`` set to now."""
    return list(zip([account for account, _ in events], stamp_now([raw for _, raw in events]), strict=True))


def produce_paced(bootstrap: str, topic: str, events: list[tuple[str, bytes]], rate: float,
                  seconds: float, batcher: sk.PartitionBatcher | None = None, partitions: int = 8) -> dict:
    """Send events at ``rate`` per second, one per message keyed by account (to its account's partition of
    ``partitions``, as the worker places it), or in the messages ``batcher`` makes of them; each stamped with
    its message's send time. Returns what was achieved.

    With aiokafka, whose record batches are built in C: kafka-python's producer took 0.79 of a core for
    3,742 single events a second, this one 0.42 (docs/BENCHMARKS.md, 2026-12-07), on a machine the worker
    and the broker share with it."""
    return asyncio.run(_produce_paced(bootstrap, topic, events, rate, seconds, batcher, partitions))


async def _produce_paced(bootstrap: str, topic: str, events: list[tuple[str, bytes]], rate: float,
                         seconds: float, batcher: sk.PartitionBatcher | None, partitions: int) -> dict:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1, enable_idempotence=False)
    await producer.start()
    homes: dict[str, int] = {}
    messages = 0

    async def send(batches: list[tuple[int, list[bytes]]]) -> None:
        nonlocal messages
        for partition, raws in batches:
            await producer.send(topic, value=b"[" + b",".join(stamp_now(raws)) + b"]", partition=partition)
            messages += 1

    t0 = time.time()
    n = 0
    try:
        while n < len(events):
            now = time.time()
            if now - t0 >= seconds:
                break
            due = min(len(events), int((now - t0) * rate) + 1)
            while n < due:
                if batcher is None:
                    account, raw = events[n]
                    raw, = stamp_now([raw])
                    home = homes.get(account)
                    if home is None:
                        home = homes[account] = partition_for(account.encode(), partitions)
                    await producer.send(topic, key=account.encode(), value=raw, partition=home)
                    messages += 1
                else:
                    await send(batcher.add(*events[n], now))
                n += 1
            if batcher is not None:
                await send(batcher.due(now))
            await asyncio.sleep(0.002)
        if batcher is not None:
            await send(batcher.drain())
        await producer.flush()
    finally:
        await producer.stop()
    dt = time.time() - t0
    return {"events": n, "messages": messages, "seconds": round(dt, 1), "events_per_s": round(n / dt)}


def lag_quantiles(text: str) -> dict:
    """Upper bucket bounds holding the p50 and p99 of ``distillwatch_event_lag_seconds`` (processing time minus
    event time, per event): whether the worker kept up, apart from alert emission."""
    buckets = [(float(le), float(v)) for le, v in
               re.findall(r'^distillwatch_event_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M)]
    total = buckets[-1][1]
    return {f"p{int(q * 100)}_le_s": next(le for le, v in buckets if v >= q * total) for q in (0.5, 0.99)}


def summary(latencies: list[float]) -> dict:
    if not latencies:
        return {"n": 0}
    return {"n": len(latencies), "p50_s": round(percentile(latencies, 0.5), 3),
            "p99_s": round(percentile(latencies, 0.99), 3), "max_s": round(max(latencies), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float,
                    help="events per second (default: half the worker's measured max for the same message shape)")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to produce")
    ap.add_argument("--batch", type=int, default=1,
                    help="events per message: 1 sends each keyed by its account; N > 1 sends JSON arrays of up to N "
                         "events of one partition's accounts, to that partition")
    ap.add_argument("--batch-wait", type=float, default=0.05,
                    help="with --batch: seconds a partition's first waiting event waits at most for the array "
                         "to fill (default 0.05)")
    ap.add_argument("--producer-max-batch-size", type=int, default=1,
                    help="the worker's Faust producer batch size, bytes (1: what distillwatch sets for tansu)")
    ap.add_argument("--input-baseline", action="store_true",
                    help="also read the input topic with a plain consumer (adds load on the broker and this host)")
    ap.add_argument("--result", default="latency", help="name of the result file in bench/results/")
    args = ap.parse_args()
    if args.batch < 1 or args.batch_wait < 0:
        ap.error("--batch must be at least 1 and --batch-wait not negative")
    rate = args.rate or default_rate("single" if args.batch == 1 else "array-by-partition")
    res: dict = {"machine": sk.machine(), "command": "python bench/latency.py " + " ".join(sys.argv[1:]),
                 "rate_wanted": rate, "batch": args.batch}
    events = sk.simulated_events(int(rate * args.seconds) + 2)
    with tempfile.TemporaryDirectory(prefix="distillwatch-bench-") as tmp, EmbeddedBroker() as broker, \
            sk.Workers(Path(tmp)) as workers:
        settings = sk.bench_settings(broker.bootstrap, Path(tmp), producer_max_batch_size=args.producer_max_batch_size)
        ensure_topics(settings)
        workers.start(settings)
        sk.produce(broker.bootstrap, settings.input_topic, sk.single_messages(stamped(events[:1])))  # the probe
        if not sk.track([settings], 1, 0, idle_seconds=60)["complete"]:
            sys.exit("the worker did not process the probe event")
        reader = AlertReader(broker.bootstrap, settings.alerts_topic,
                             settings.input_topic if args.input_baseline else None)
        reader.start()
        pids = {"worker": workers.procs[0].proc.pid, "broker": broker.pid, "producer+reader": os.getpid()}
        cpu0 = {k: sk.cpu_seconds(p) for k, p in pids.items()}
        batcher = (sk.PartitionBatcher(settings.partitions, args.batch, args.batch_wait) if args.batch > 1
                   else None)
        res["produced"] = produce_paced(broker.bootstrap, settings.input_topic, events[1:], rate, args.seconds,
                                        batcher, settings.partitions)
        res["cpu_share_while_producing"] = {k: round((sk.cpu_seconds(p) - cpu0[k]) / res["produced"]["seconds"], 2)
                                            for k, p in pids.items()}
        drained = sk.track([settings], res["produced"]["events"] + 1, 120, idle_seconds=5)
        res["worker_done"] = drained["events_done"]
        res["worker_event_lag"] = lag_quantiles(sk.metrics_text(settings))
        time.sleep(1.0)
        reader.stop.set()
        reader.join(5)
    seen = reader.seen
    res["timestamp_types"] = sorted({ttype for _, _, ttype, _ in seen})  # 0 = CreateTime
    by_kind: dict[str, dict] = {}
    for kind, keep in (("episode alerts", lambda a: a["status"] != "linked"),
                       ("linked alerts", lambda a: a["status"] == "linked")):
        rows = [(recv, created, parse_timestamp(a["detected_at"])) for recv, created, _, a in seen if keep(a)]
        by_kind[kind] = {"record": summary([c - d for _, c, d in rows]), "seen": summary([r - d for r, _, d in rows])}
    if args.input_baseline:
        by_kind["input events, plain consumer"] = {"seen": summary(reader.delivery)}
    res["latency"] = by_kind
    res["alerts"] = [[a["status"], a["severity"], round(created - parse_timestamp(a["detected_at"]), 3)]
                     for _, created, _, a in seen]
    main_p99 = by_kind["episode alerts"]["record"].get("p99_s")
    res["target"] = {"target": f"episode alert p99 <= {TARGET_P99_S} s at half max", "measured": main_p99,
                     "pass": main_p99 is not None and main_p99 <= TARGET_P99_S}
    sk.write_result(args.result, res)
    print(f"produced {res['produced']['events']:,} events in {res['produced']['messages']:,} messages at "
          f"{res['produced']['events_per_s']:,}/s "
          f"(wanted {rate:,.0f}/s); worker processed {res['worker_done']:,}; its event lag p50/p99 within "
          f"{res['worker_event_lag']['p50_le_s']}/{res['worker_event_lag']['p99_le_s']} s")
    rows = [[kind, how, s["n"], s.get("p50_s", "-"), s.get("p99_s", "-"), s.get("max_s", "-")]
            for kind, d in by_kind.items() for how, s in d.items()]
    sk.print_table(rows, ["records", "clock", "n", "p50 s", "p99 s", "max s"])
    print("CPU share while producing (of one core):", res["cpu_share_while_producing"])
    t = res["target"]
    print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['measured']}")


if __name__ == "__main__":
    main()
