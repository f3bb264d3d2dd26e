"""Every size cap on input, as documented in docs/reliability.md, enforced where it is stated.

Unit tests check the caps in the decoders and that the documentation lists
each one with its value; an integration test checks the caps a real worker
enforces over Kafka and HTTP: a lowered ``max_event_bytes``, the label body
of ``POST /labels`` (with and without a Content-Length), and an over-long
explain path.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from detectors import contract
from detectors.contract import InvalidEvent, decode
from detectors.labels import LABEL_MAX_BYTES, decode_label
from streams.app import DLQ_CODE_HEADER, DLQ_HEADROOM_BYTES, _faust_settings
from streams.settings import Settings
from tests.kafkautil import consume, produce

DOC = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text("utf-8")
LABEL = {"account_id": "acct-1", "label": "abusive", "analyst": "jd", "time": 1795858863}


@pytest.mark.parametrize(
    "value",
    [
        contract.MAX_EVENT_BYTES,
        contract.ID_MAX_CHARS,
        contract.MODEL_MAX_CHARS,
        contract.STR_MAX_CHARS,
        contract.PROMPT_TEXT_MAX_CHARS,
        LABEL_MAX_BYTES,
        1024,
        DLQ_HEADROOM_BYTES,
    ],
)
def test_every_cap_is_documented_with_its_value(value):
    assert f"{value:,}" in DOC or str(value) in DOC


def test_label_size_cap():
    note = "n" * 4096
    ok = orjson.dumps({**LABEL, "note": note})
    assert decode_label(ok).note == note
    padded = ok + b" " * (LABEL_MAX_BYTES - len(ok))
    assert decode_label(padded).abusive  # exactly at the cap
    # one byte over; the same as str; deep nesting; characters under the cap but UTF-8 bytes over it
    for raw in (padded + b" ", (padded + b" ").decode(), b"[" * 100_000, "\u00e9" * (LABEL_MAX_BYTES // 2 + 1)):
        with pytest.raises(InvalidEvent) as info:
            decode_label(raw)
        assert (info.value.field, info.value.code) == (None, "too_large")


def test_event_caps_stated_in_the_contract():
    base = {"request_id": "r", "timestamp": 1795858863, "account_id": "a", "model": "m", "status_code": 200}
    for field, cap in (("request_id", 128), ("account_id", 128), ("model", 256), ("user_agent", 1024)):
        assert decode(orjson.dumps({**base, field: "x" * cap}))
        with pytest.raises(InvalidEvent) as info:
            decode(orjson.dumps({**base, field: "x" * (cap + 1)}))
        assert (info.value.field, info.value.code) == (field, "range")


def test_producer_request_size_admits_the_largest_event():
    s = Settings(broker="127.0.0.1:9092", max_event_bytes=5_000_000, datadir=Path("/tmp/dw-size-caps"))
    assert _faust_settings(s)["producer_max_request_size"] == 5_000_000 + DLQ_HEADROOM_BYTES


def _post(url: str, data, headers: dict[str, str]) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_worker_enforces_the_caps_over_kafka_and_http(worker_factory, kafka_bootstrap):
    token = "size-caps-token-0123456789"
    w = worker_factory(web_enabled=True, admin_token=token, max_event_bytes=4096)
    s = w.settings
    base = {"timestamp": "2026-11-28T10:00:00Z", "account_id": "acct-cap", "model": "m", "status_code": 200}
    fits = orjson.dumps({**base, "request_id": "fits"})
    fits += b" " * (4096 - len(fits))
    over = orjson.dumps({**base, "request_id": "over"})
    over += b" " * (4097 - len(over))
    produce(kafka_bootstrap, s.input_topic, [(b"acct-cap", fits), (b"acct-cap", over)])
    dlq = consume(kafka_bootstrap, s.dlq_topic, until=lambda r: len(r) >= 1, timeout=90)
    assert len(dlq) == 1
    headers = dict(dlq[0].headers)
    assert headers[DLQ_CODE_HEADER] == b"too_large" and dlq[0].value == b""  # withheld, described
    assert headers["distillwatch-original-bytes"] == b"4097"

    url = f"http://127.0.0.1:{s.web_port}"
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    label = orjson.dumps({"account_id": "acct-cap", "label": "benign", "analyst": "jd"})
    assert _post(f"{url}/labels", label, auth)[0] == 202
    status, body = _post(f"{url}/labels", label + b" " * LABEL_MAX_BYTES, auth)
    assert status == 413 and str(LABEL_MAX_BYTES).encode() in body
    chunks = iter([label[:-1]] + [b" " * 4096] * 8 + [b"}"])  # no Content-Length: chunked transfer
    assert _post(f"{url}/labels", chunks, auth)[0] == 413
    assert _post(f"{url}/labels", label + b" " * LABEL_MAX_BYTES, {})[0] == 401  # the token is checked first

    for account, expected in (("a" * 200, 404), ("a" * 20_000, 400)):  # long: refused by the HTTP parser
        req = urllib.request.Request(f"{url}/explain/{account}", headers={"Authorization": f"Bearer {token}"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=20)
        assert info.value.code == expected
    assert urllib.request.urlopen(f"{url}/healthz", timeout=10).status == 200 and w.proc.alive()
