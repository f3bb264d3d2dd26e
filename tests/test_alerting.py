"""Alertmanager push: the alert's shape (unit), the open set and retries (unit), and the
whole path against a real Alertmanager (Debian's prometheus-alertmanager) and real workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from detectors.contract import parse_timestamp
from streams.alerting import Alertmanager, alertmanager_alert, explain_url
from streams.broker import free_port, stop_group
from streams.metrics import Metrics
from tests.kafkautil import consume, produce
from tests.oncall_traffic import harvester, population

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

REASON = {"signal": "reasoning_elicitation", "feature": "elicitation_share", "value": 1.0, "threshold": 0.15,
          "baseline": {"median": 0.0005, "p90": 0.17, "p99": 0.99}}


def _alert(status: str = "opened", severity: str = "warning", cluster: dict | None = None) -> dict:
    return {"account_id": "acct/1", "status": status, "severity": severity, "score": 0.7123,
            "episode_opened_at": "2024-05-01T10:00:00.000Z", "detected_at": "2024-05-01T11:00:00.000Z",
            "cluster": cluster, "reasons": [REASON, {**REASON, "signal": "single_turn", "baseline": None}]}


# -- unit ----------------------------------------------------------------------------


def test_alert_carries_labels_annotations_and_the_explain_link():
    am = alertmanager_alert(_alert(), "https://dw.example")
    assert am["labels"] == {"alertname": "DistillationHarvesting", "severity": "warning", "account_id": "acct/1",
                            "service": "distillwatch"}
    link = "https://dw.example/explain/acct%2F1"
    assert explain_url("https://dw.example", "acct/1") == link
    assert am["generatorURL"] == am["annotations"]["explain_url"] == link
    assert am["annotations"]["summary"] == "account acct/1: warning distillation harvesting, score 0.71"
    assert am["annotations"]["description"] == (
        "reasoning_elicitation 1 (counts from 0.15) vs population median 0.0005, p90 0.17, p99 0.99; "
        "single_turn 1 (counts from 0.15)"
    )
    assert am["startsAt"] == "2024-05-01T10:00:00.000Z" and "endsAt" not in am
    # a cluster found later in the episode stays on the labels, even on transitions without one
    linked = alertmanager_alert(_alert(cluster={"cluster_id": "00ff"}), "https://dw.example", am)
    assert linked["labels"]["cluster_id"] == "00ff"
    escalated = alertmanager_alert(_alert(severity="critical"), "https://dw.example", linked)
    assert escalated["labels"]["cluster_id"] == "00ff"


def _pusher(tmp_path: Path, **settings) -> tuple[Alertmanager, dict, Metrics]:
    from streams.settings import Settings

    s = Settings(alertmanager_url="http://127.0.0.1:1", public_url="https://dw.example", datadir=tmp_path,
                 **settings)
    table: dict = {}
    metrics = Metrics()
    return Alertmanager(None, s, metrics, table), table, metrics


def _drain(am: Alertmanager) -> list[dict]:
    out = []
    while not am.queue.empty():
        out.append(am.queue.get_nowait())
    return out


def test_open_set_supersedes_changed_labels_and_resolves_with_ends_at(tmp_path):
    am, table, _ = _pusher(tmp_path)
    am.on_alert(b"acct/1", _alert())
    (firing,) = _drain(am)
    assert orjson.loads(table[b"acct/1"]) == firing and "endsAt" not in firing

    before = time.time()
    am.on_alert(b"acct/1", _alert("escalated", "critical"))
    sent = _drain(am)
    ended = next(a for a in sent if "endsAt" in a)
    assert ended["labels"]["severity"] == "warning"  # the old label set is ended at once ...
    assert parse_timestamp(ended["endsAt"]) >= before - 0.01
    (now_firing,) = [a for a in sent if "endsAt" not in a]
    assert now_firing["labels"]["severity"] == "critical"  # ... and the new one fires

    am.on_alert(b"acct/1", _alert("resolved", "critical"))
    (resolved,) = _drain(am)
    assert resolved["labels"] == now_firing["labels"]
    assert resolved["endsAt"] == "2024-05-01T11:00:00.000Z"  # the resolution's event time (in the past)
    assert b"acct/1" not in table


def test_sender_retries_with_backoff_until_alertmanager_accepts(tmp_path):
    """A stand-in HTTP server (this test is about our retry loop, not Alertmanager) fails twice."""
    received: list = []

    async def run() -> None:
        async def handler(request):
            received.append(await request.json())
            return web.Response(status=503 if len(received) <= 2 else 200, text="busy")

        server = web.Application()
        server.router.add_post("/api/v2/alerts", handler)
        runner = web.AppRunner(server)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            am, _, metrics = _pusher(tmp_path)
            am.url = f"http://127.0.0.1:{port}/api/v2/alerts"
            am.on_alert(b"acct/1", _alert())
            task = asyncio.create_task(am.sender())
            for _ in range(100):
                if metrics.alertmanager_posts.labels("ok")._value.get():
                    break
                await asyncio.sleep(0.05)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert metrics.alertmanager_posts.labels("error")._value.get() == 2
            assert metrics.alertmanager_posts.labels("ok")._value.get() == 1
        finally:
            await runner.cleanup()

    t0 = time.monotonic()
    asyncio.run(run())
    assert len(received) == 3 and received[0] == received[2]
    assert time.monotonic() - t0 >= 1.4  # backoff 0.5 s, then 1 s


def test_full_queue_drops_and_counts_instead_of_blocking(tmp_path, monkeypatch):
    import streams.alerting

    monkeypatch.setattr(streams.alerting, "QUEUE_SIZE", 2)
    am, _, metrics = _pusher(tmp_path)
    for i in range(4):
        am.on_alert(f"acct-{i}".encode(), {**_alert(), "account_id": f"acct-{i}"})
    assert am.queue.qsize() == 2
    assert metrics.alertmanager_dropped._value.get() == 2


# -- the example routing in deploy/, checked by Alertmanager's own amtool -------------------

AMTOOL = "/usr/bin/amtool"
EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "alertmanager" / "alertmanager.yml"


@pytest.mark.integration  # needs the Debian package (make test installs it; make test-fast does not)
def test_example_alertmanager_config_is_valid_and_routes_by_severity():
    import yaml

    from streams.settings import Settings

    out = subprocess.run([AMTOOL, "check-config", str(EXAMPLE)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr
    expected = {"critical": "trust-and-safety-page", "warning": "trust-and-safety-chat",
                "info": "trust-and-safety-ticket"}
    for severity, receiver in expected.items():
        labels = ["alertname=DistillationHarvesting", "service=distillwatch", f"severity={severity}",
                  "account_id=acct-1", "cluster_id=00ff"]
        out = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={EXAMPLE}",
                              f"--verify.receivers={receiver}", *labels], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, f"{severity}: {out.stdout}{out.stderr}"
    conf = yaml.safe_load(EXAMPLE.read_text())
    assert "cluster_id" in conf["route"]["group_by"]
    minutes = int(conf["global"]["resolve_timeout"].removesuffix("m"))
    assert minutes * 60 >= 3 * Settings.model_fields["alertmanager_resend_seconds"].default


# -- integration: a real Alertmanager ----------------------------------------------------


class AlertmanagerProcess:
    """prometheus-alertmanager on 127.0.0.1, no clustering, its own storage; killed by stop()."""

    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "alertmanager.yml"
        config.write_text('global:\n  resolve_timeout: 10m\nroute:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "alertmanager.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=", f"--storage.path={workdir / 'data'}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{self.url}/-/ready", timeout=2).status == 200:
                    return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise AssertionError("alertmanager did not start: " + (workdir / "alertmanager.log").read_text())
            time.sleep(0.2)

    def alerts(self, account: str) -> list[dict]:
        """The active alerts of ``account`` (Alertmanager 0.25 lists no resolved alerts)."""
        body = urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10).read()
        return [a for a in orjson.loads(body) if a["labels"].get("account_id") == account]

    def wait(self, account: str, predicate, timeout: float = 120.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.alerts(account)
            if predicate(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.5)

    def stop(self) -> None:
        stop_group(self.proc)
        self.log.close()


@pytest.fixture
def alertmanagers(tmp_path):
    started: list[AlertmanagerProcess] = []

    def start() -> AlertmanagerProcess:
        started.append(AlertmanagerProcess(tmp_path / f"alertmanager-{len(started)}"))
        return started[-1]

    yield start
    for am in started:
        am.stop()


@pytest.mark.integration
def test_alert_reaches_alertmanager_is_resent_survives_a_restart_and_resolves(
    alertmanagers, kafka_bootstrap, tmp_path
):
    from tests.conftest import RunningWorker, unique_settings

    am1 = alertmanagers()
    s = unique_settings(kafka_bootstrap, tmp_path, web_enabled=True, alertmanager_url=am1.url,
                        alertmanager_resend_seconds=1.0, public_url="https://dw.example")
    start = time.time() - 8 * 3600
    acct = "acct-am"
    events = harvester(acct, start + 3000, hot=150, calm=400)
    msgs = population(start) + events[:150]
    msgs.sort(key=lambda kv: orjson.loads(kv[1])["timestamp"])

    w1 = RunningWorker(s, tmp_path / "w1.log").start()
    try:
        produce(kafka_bootstrap, s.input_topic, msgs)
        records = consume(kafka_bootstrap, s.alerts_topic, timeout=180,
                          until=lambda r: any(m.key == acct.encode() for m in r))
        opened = next(orjson.loads(m.value) for m in records if m.key == acct.encode())
        assert opened["status"] == "opened" and opened["severity"] == "critical"

        (got,) = am1.wait(acct, lambda a: a, timeout=60) or [None]
        assert got is not None, w1.proc.log_tail()
        assert got["labels"] == {"alertname": "DistillationHarvesting", "severity": "critical", "account_id": acct,
                                 "service": "distillwatch"}
        assert got["annotations"]["summary"] == f"account {acct}: critical distillation harvesting, score " \
                                                f"{opened['score']:.2f}"
        assert got["annotations"]["description"].startswith("reasoning_elicitation 1 (counts from 0.15) vs "
                                                            "population median")
        assert got["annotations"]["explain_url"] == got["generatorURL"] == f"https://dw.example/explain/{acct}"
        assert parse_timestamp(got["startsAt"]) == parse_timestamp(opened["episode_opened_at"])
        assert got["status"]["state"] == "active"
        # re-sent while open, with no new events: Alertmanager sees it updated again
        first_update = got["updatedAt"]
        again = am1.wait(acct, lambda a: a and a[0]["updatedAt"] != first_update, timeout=30)
        assert again and again[0]["updatedAt"] != first_update
        text = urllib.request.urlopen(f"http://127.0.0.1:{s.web_port}/metrics", timeout=10).read().decode()
        assert "distillwatch_alertmanager_active_alerts 1.0" in text
        assert 'distillwatch_alertmanager_posts_total{outcome="error"} 0.0' in text
    finally:
        assert w1.stop() == 0

    # a restarted worker recovers the open set from its changelog and pushes it to a fresh Alertmanager
    am2 = alertmanagers()
    w2 = RunningWorker(s.with_overrides(alertmanager_url=am2.url), tmp_path / "w2.log").start()
    try:
        got = am2.wait(acct, lambda a: a, timeout=90)
        assert len(got) == 1 and got[0]["labels"]["severity"] == "critical", w2.proc.log_tail()

        # ordinary traffic for hours of event time: the episode resolves and Alertmanager drops the alert
        produce(kafka_bootstrap, s.input_topic, events[150:])
        records = consume(kafka_bootstrap, s.alerts_topic, timeout=180,
                          until=lambda r: any(orjson.loads(m.value)["status"] == "resolved" for m in r
                                              if m.key == acct.encode()))
        assert any(orjson.loads(m.value)["status"] == "resolved" for m in records if m.key == acct.encode())
        assert am2.wait(acct, lambda a: not a, timeout=30) == []
        time.sleep(2.5)  # two re-send intervals: a resolved episode is not re-sent
        assert am2.alerts(acct) == []
    finally:
        w2.stop()
