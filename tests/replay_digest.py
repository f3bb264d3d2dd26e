"""Replay a simulated file through the whole detection path and print a digest of everything it produced.

    python tests/replay_digest.py EVENTS.jsonl LABELS.jsonl

Run by tests/test_compiled.py twice, compiled and with ``DISTILLWATCH_PURE_PYTHON=1``: one line of JSON
with the build status, the number and SHA-256 of the alerts (full precision), of the account states'
bytes and of the partition contexts' bytes. Every tenth labelled account is taught to its partition's
label model halfway through, so that model runs too.
"""

from __future__ import annotations

import hashlib
import json
import sys

import orjson

import detectors
from detectors.contract import InvalidEvent, decode_message
from detectors.pipeline import LocalPipeline


def main(events: str, labels: str) -> None:
    with open(labels, "rb") as f:
        truth = [json.loads(line) for line in f if line.strip()]
    with open(events, "rb") as f:
        lines = [line.rstrip(b"\n") for line in f if line.strip()]
    pipe = LocalPipeline(partitions=8)
    alerts: list = []
    invalid = 0
    for i, line in enumerate(lines):
        for _, ev in decode_message(line):
            if type(ev) is InvalidEvent:
                invalid += 1
            else:
                pipe.handle(ev)
        alerts.extend(pipe.alerts)
        pipe.alerts.clear()
        if i == len(lines) // 2:
            for row in truth[::10]:
                pipe.label(row["account_id"], row["label"] != "benign")
    digest = {
        "build": detectors.build_status(),
        "invalid": invalid,
        "alerts": len(alerts),
        "alerts_sha256": hashlib.sha256(orjson.dumps(alerts, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        "states": len(pipe.states),
        "states_sha256": hashlib.sha256(
            b"".join(k.encode() + b"\0" + pipe.states[k].to_bytes() for k in sorted(pipe.states))).hexdigest(),
        "contexts_sha256": hashlib.sha256(b"".join(c.to_bytes() for c in pipe.contexts)).hexdigest(),
    }
    print(json.dumps(digest))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
