"""Rate-limit actions end to end: a real worker on the embedded broker, a real HTTP receiver.

A deliberately broken rules file scores every account critical (as a broken
model would). With the circuit breaker out of reach, each account gets a
shadow throttle on the compacted actions topic and a signed webhook; with a
real population and a 5 % breaker, only 5 % of the accounts are actioned and
the rest are halted.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import orjson
import pytest
import yaml
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from prometheus_client.parser import text_string_to_metric_families

from detectors.actions import BREAKER_KEY
from streams.webhooks import ReplayCache, WebhookVerificationError, verify
from tests.kafkautil import consume, produce

pytestmark = pytest.mark.integration

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REPO = Path(__file__).resolve().parents[1]


def broken_rules(tmp_path: Path) -> Path:
    """The packaged rules, broken: any completion counts as full content evidence, every score is critical."""
    doc = yaml.safe_load((REPO / "detectors" / "rules.yaml").read_text())
    for sig in doc["signals"]:
        if sig["name"] == "long_outputs":
            sig.update(low=0, high=1, weight=1.0)
    doc["scoring"].update(interval_events=1, min_events=3, early_events=1)
    doc["policy"].update(thresholds={"info": 0.1, "warning": 0.2, "critical": 0.3}, close_below=0.05)
    path = tmp_path / "broken-rules.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def events(accounts: list[str], rounds: range, ts: float) -> list[tuple[bytes, bytes]]:
    """Plain, valid events (no prompt text, no client address: nothing to link accounts into clusters)."""
    out = []
    for r in rounds:
        for a in accounts:
            ev = {"request_id": f"{a}-{r}", "timestamp": ts + r, "account_id": a, "model": "m-1",
                  "status_code": 200, "usage": {"input_tokens": 20, "output_tokens": 400}}
            out.append((a.encode(), orjson.dumps(ev)))
    return out


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver(http.server.ThreadingHTTPServer):
    """A rate limiter's webhook endpoint on 127.0.0.1: verify, de-duplicate, remember."""

    def __init__(self):
        self.accepted: list[tuple[str, dict]] = []
        self.rejected: list[str] = []
        self.cache = ReplayCache()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    msg_id = verify(SECRET, dict(self.headers.items()), body, now=time.time())
                except WebhookVerificationError as exc:
                    outer.rejected.append(str(exc))
                    self.send_response(400)
                else:
                    if outer.cache.first_time(msg_id, time.time()):
                        outer.accepted.append((msg_id, orjson.loads(body)))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture
def receiver():
    rx = Receiver()
    yield rx
    rx.close()


def test_shadow_actions_reach_the_compacted_topic_and_signed_webhooks_and_can_be_released(
        worker_factory, kafka_bootstrap, tmp_path, receiver):
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    tag = uuid.uuid4().hex[:8]
    w = worker_factory(
        rules_file=broken_rules(tmp_path), actions_topic=f"actions-{tag}", web_enabled=True,
        actions_warmup_guard=False,  # a fresh worker's models are cold; this test is not about warm-up
        actions_breaker_min_active=1000,  # nor about the breaker
        webhook_urls=[receiver.url], webhook_secret_file=secret_file,
    )
    s = w.settings
    accounts = [f"acct-{i}" for i in range(5)]
    produce(kafka_bootstrap, s.input_topic, events(accounts, range(4), time.time() - 10))

    records = consume(kafka_bootstrap, s.actions_topic, until=lambda r: len(r) >= 5, timeout=90)
    actions = [orjson.loads(m.value) for m in records]
    assert len(actions) == 5
    assert sorted(a["account_id"] for a in actions) == accounts
    for msg, a in zip(records, actions):
        assert msg.key == a["account_id"].encode()  # keyed by account: compaction keeps its latest action
        assert (a["kind"], a["action"], a["limit_per_minute"]) == ("action", "throttle", 10)
        assert a["enforced"] is False and a["shadow"] is True  # shadow mode is the default
        assert a["expires_at"] > a["issued_at"] and a["reverses"] is None
        assert a["reason"]["severity"] == "critical" and "long_outputs" in a["reason"]["signals"]
    assert len({a["action_id"] for a in actions}) == 5

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, s.actions_topic)])
    finally:
        admin.close()
    configs = described["topic"][s.actions_topic]
    if configs or os.environ.get("DW_TEST_BROKER"):  # a real Kafka reports the topic's configuration
        assert configs.get("cleanup.policy") == "compact", configs
    # tansu 0.6 answers DescribeConfigs with no entries at all; test_topics_request_compaction (below) checks
    # that the topic is created with cleanup.policy=compact

    wait_for(lambda: len(receiver.accepted) >= 5, 30, "5 webhook deliveries")
    assert receiver.rejected == []
    by_id = {a["action_id"]: a for a in actions}
    assert {msg_id: body for msg_id, body in receiver.accepted} == by_id  # webhook-id = action_id, same record

    samples = scrape(s.web_port)
    assert metric(samples, "distillwatch_actions_total", action="throttle", outcome="shadow") == 5
    assert metric(samples, "distillwatch_webhook_deliveries_total", outcome="delivered") == 5
    assert metric(samples, "distillwatch_actions_halted") == 0

    # an operator reverses one of them
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLWATCH_")}
    env.update(DISTILLWATCH_BROKER=kafka_bootstrap, DISTILLWATCH_ACTIONS_TOPIC=s.actions_topic,
               DISTILLWATCH_WEBHOOK_URLS=receiver.url, DISTILLWATCH_WEBHOOK_SECRET_FILE=str(secret_file))
    out = subprocess.run([sys.executable, "-m", "streams.cli", "release", "acct-3", "--note", "ticket 7"],
                         env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    target = next(a for a in actions if a["account_id"] == "acct-3")
    assert f"reverses action {target['action_id']}" in out.stdout
    records = consume(kafka_bootstrap, s.actions_topic, until=lambda r: len(r) >= 6, timeout=30)
    msg = next(m for m in records if orjson.loads(m.value)["action"] == "release")  # partitions interleave
    release = orjson.loads(msg.value)
    assert msg.key == b"acct-3"
    assert (release["action"], release["reverses"], release["enforced"]) == ("release", target["action_id"], False)
    assert release["reason"] == {"cause": "manual", "note": "ticket 7"}
    wait_for(lambda: len(receiver.accepted) >= 6, 30, "the release's webhook")
    assert receiver.accepted[-1] == (release["action_id"], release)
    assert SECRET.removeprefix("whsec_") not in w.proc.log_path.read_text(errors="replace")  # never logged


def test_circuit_breaker_halts_a_broken_model_that_scores_every_account_high(worker_factory, kafka_bootstrap,
                                                                             tmp_path):
    tag = uuid.uuid4().hex[:8]
    n = 80
    w = worker_factory(
        rules_file=broken_rules(tmp_path), actions_topic=f"actions-{tag}", web_enabled=True,
        actions_warmup_guard=False, actions_breaker_share=0.05, actions_breaker_close_share=0.025,
        actions_breaker_window_seconds=600, actions_breaker_min_active=40,
    )
    s = w.settings
    accounts = [f"user-{i:03d}" for i in range(n)]
    now = time.time()
    # first the whole population is active (two events each: too few to score an alert) ...
    produce(kafka_bootstrap, s.input_topic, events(accounts, range(2), now - 60))
    wait_for(lambda: metric(scrape(s.web_port), "distillwatch_events_total", outcome="valid") >= 2 * n, 60,
             "the population's first events")
    # ... then the broken model scores every one of them critical
    produce(kafka_bootstrap, s.input_topic, events(accounts, range(2, 3), now - 60))

    def settled():
        m = scrape(s.web_port)
        done = metric(m, "distillwatch_actions_total", action="throttle", outcome="shadow") + metric(
            m, "distillwatch_actions_total", action="throttle", outcome="halted")
        return m if done >= n else None

    samples = wait_for(settled, 90, "a decision for every account")
    allowed = int(0.05 * n)  # 4 of 80 is not more than 5 %; the 5th would be
    assert metric(samples, "distillwatch_actions_total", action="throttle", outcome="shadow") == allowed
    assert metric(samples, "distillwatch_actions_total", action="throttle", outcome="halted") == n - allowed
    assert metric(samples, "distillwatch_actions_halted") == 1
    assert metric(samples, "distillwatch_enforcement_paused", reason="lag") == 0

    records = consume(kafka_bootstrap, s.actions_topic, until=lambda r: len(r) >= allowed + 1, timeout=30)
    time.sleep(1)
    records = consume(kafka_bootstrap, s.actions_topic, until=lambda r: False, timeout=3)  # and nothing more
    breaker = [orjson.loads(m.value) for m in records if m.key == BREAKER_KEY.encode()]
    actions = [orjson.loads(m.value) for m in records if m.key != BREAKER_KEY.encode()]
    assert len(actions) == allowed and all(a["action"] == "throttle" for a in actions)
    assert [b["state"] for b in breaker] == ["open"]
    assert breaker[0]["active_accounts"] == n and breaker[0]["actioned_accounts"] == allowed + 1
    assert breaker[0]["worker"] and len(breaker[0]["breaker_id"]) == 32
    log = w.proc.log_path.read_text(errors="replace")
    assert "CRITICAL" in log and "circuit breaker OPEN" in log


def test_topics_request_compaction_for_the_actions_topic_only(monkeypatch, kafka_bootstrap, tmp_path):
    """What ensure_topics asks the broker for (tansu does not report topic configs back)."""
    from streams import topics
    from tests.conftest import unique_settings

    requested = []

    class RecordingAdmin(KafkaAdminClient):
        def create_topics(self, new_topics, *args, **kwargs):
            requested.extend(new_topics)
            return super().create_topics(new_topics, *args, **kwargs)

    monkeypatch.setattr(topics, "KafkaAdminClient", RecordingAdmin)
    s = unique_settings(kafka_bootstrap, tmp_path, actions_topic=f"actions-{uuid.uuid4().hex[:8]}")
    topics.ensure_topics(s)
    configs = {t.name: t.topic_configs for t in requested}
    assert configs[s.actions_topic] == {"cleanup.policy": "compact"}
    assert all(not c for name, c in configs.items() if name != s.actions_topic)  # the rest keep their history


def test_fail_open_a_lagging_or_warming_worker_issues_no_throttles(worker_factory, kafka_bootstrap, tmp_path):
    tag = uuid.uuid4().hex[:8]
    w = worker_factory(rules_file=broken_rules(tmp_path), actions_topic=f"actions-{tag}", web_enabled=True,
                       actions_max_lag_seconds=300)  # warm-up guard on (the default): a fresh worker is cold
    s = w.settings
    # an hour-old backlog: lagging
    produce(kafka_bootstrap, s.input_topic, events([f"old-{i}" for i in range(5)], range(3), time.time() - 3600))
    samples = wait_for(lambda: (m := scrape(s.web_port)) and metric(
        m, "distillwatch_actions_total", action="throttle", outcome="paused") >= 5 and m, 60, "5 paused decisions")
    assert metric(samples, "distillwatch_enforcement_paused", reason="lag") == 1
    # fresh events: no lag, but the models are still warming up
    produce(kafka_bootstrap, s.input_topic, events([f"new-{i}" for i in range(5)], range(3), time.time() - 5))
    samples = wait_for(lambda: (m := scrape(s.web_port)) and metric(
        m, "distillwatch_actions_total", action="throttle", outcome="paused") >= 10 and m, 60, "10 paused decisions")
    assert metric(samples, "distillwatch_enforcement_paused", reason="warmup") == 1
    assert metric(samples, "distillwatch_enforcement_paused", reason="lag") == 0
    assert metric(samples, "distillwatch_actions_total", action="throttle", outcome="shadow") == 0
    assert consume(kafka_bootstrap, s.actions_topic, until=lambda r: False, timeout=3) == []  # nothing published
    log = w.proc.log_path.read_text(errors="replace")
    assert "enforcement paused (lag)" in log and "enforcement paused (warmup)" in log
