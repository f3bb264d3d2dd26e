"""Produce-to-consume latency through the embedded broker for two fetch waits (no worker).

    .venv/bin/python bench/fetch_wait.py [--rate 600] [--seconds 15]

Faust's aiokafka driver fixes ``fetch_max_wait_ms=1500`` for its consumer. A Kafka broker
answers a fetch as soon as ``fetch_min_bytes`` (1) is there; this measures whether the
embedded tansu broker does, by producing timestamped records at ``--rate`` for
``--seconds`` (kafka-python, ``linger_ms=1``) and reading them with a bare
AIOKafkaConsumer at ``fetch_max_wait_ms`` 20 and then 1500, on a fresh broker each time.
Latency = receive wall time − the produce time carried in the value. Prints a table and
writes ``bench/results/fetch_wait.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import streamkit as sk  # noqa: E402

from streams.broker import EmbeddedBroker  # noqa: E402

PARTITIONS = 8


async def _consume(bootstrap: str, topic: str, wait_ms: int, out: list[float], stop: threading.Event) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=wait_ms)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            now = time.time()
            out.extend(now - float(rec.value) for recs in batches.values() for rec in recs)
    finally:
        await consumer.stop()


def measure(wait_ms: int, rate: float, seconds: float) -> dict:
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    with EmbeddedBroker() as broker:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic("latency", PARTITIONS, 1)])
        admin.close()
        out: list[float] = []
        stop = threading.Event()
        reader = threading.Thread(target=lambda: asyncio.run(_consume(broker.bootstrap, "latency", wait_ms, out,
                                                                      stop)))
        reader.start()
        time.sleep(3.0)  # the consumer is fetching before the first record
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=1, acks=1, enable_idempotence=False)
        t0 = time.time()
        n = 0
        try:
            while time.time() - t0 < seconds:
                while n < int((time.time() - t0) * rate):
                    producer.send("latency", key=str(n).encode(), value=repr(time.time()).encode())
                    n += 1
                time.sleep(0.002)
            producer.flush()
            time.sleep(3.0)
        finally:
            producer.close()
            stop.set()
            reader.join()
    s = sorted(out)
    return {"records": len(s), "p50_s": round(s[len(s) // 2], 3), "p99_s": round(s[int(0.99 * (len(s) - 1))], 3),
            "max_s": round(s[-1], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=600.0)
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    res: dict = {"machine": sk.machine(), "command": "python bench/fetch_wait.py " + " ".join(sys.argv[1:]),
                 "runs": {str(w): measure(w, args.rate, args.seconds) for w in (20, 1500)}}
    sk.write_result("fetch_wait", res)
    sk.print_table([[w, r["records"], r["p50_s"], r["p99_s"], r["max_s"]] for w, r in res["runs"].items()],
                   ["fetch_max_wait_ms", "records", "p50 s", "p99 s", "max s"])


if __name__ == "__main__":
    main()
