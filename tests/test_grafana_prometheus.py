"""The dashboards' queries and the rules against a REAL Prometheus scraping a REAL
worker fed by the simulator.

Prometheus is the Debian package's /usr/bin/prometheus (installed by `make test`
through scripts/install-system-deps.sh), started here on 127.0.0.1 with the
project's scrape config (deploy/prometheus/prometheus.yml, target and intervals
changed) and rules. The worker is a `distillwatch worker` process on the embedded
broker (tests/conftest.py). No Grafana server can be installed here, so the test
sends each panel's query the way Grafana would, variables substituted.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import simulator
from streams.broker import free_port
from streams.metrics import FAUST_FAMILIES, Metrics
from tests.conftest import RunningWorker, unique_settings
from tests.kafkautil import produce
from tests.promql import ROOT, RULES, dashboard_exprs, recorded_names, substitute

pytestmark = pytest.mark.integration

PROMETHEUS = Path("/usr/bin/prometheus")
JOB = "distillwatch"


class PrometheusServer:
    """A Prometheus child process on a free 127.0.0.1 port, scraping ``target`` every second."""

    def __init__(self, workdir: Path, target: str):
        assert PROMETHEUS.exists(), "prometheus missing: run `make system-deps` (scripts/install-system-deps.sh)"
        conf = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
        conf["global"].update(scrape_interval="1s", evaluation_interval="1s")
        (job,) = conf["scrape_configs"]
        assert job["job_name"] == JOB
        job["static_configs"] = [{"targets": [target]}]
        conf["rule_files"] = [str(RULES)]
        config = workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(conf))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(PROMETHEUS), f"--config.file={config}", f"--web.listen-address=127.0.0.1:{self.port}",
                 f"--storage.tsdb.path={workdir / 'tsdb'}", "--web.enable-lifecycle"],
                stdout=log, stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "prometheus exited:\n" + self.log_path.read_text()[-3000:]
            try:
                if urllib.request.urlopen(self.url + "/-/ready", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("prometheus not ready:\n" + self.log_path.read_text()[-3000:])

    def api(self, path: str, **params) -> dict:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:  # a bad query answers 400 with the error in the body
            return json.loads(e.read())

    def query(self, expr: str) -> dict:
        return self.api("query", query=expr)

    def value(self, expr: str) -> float:
        result = self.query(expr)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def _wait(predicate, what: str, timeout: float = 240.0, step: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


@pytest.fixture(scope="module")
def stack(kafka_bootstrap, tmp_path_factory):
    """A worker that has processed a simulated hour (harvesters included), scraped by Prometheus."""
    tmp = tmp_path_factory.mktemp("grafana-prometheus")
    settings = unique_settings(kafka_bootstrap, tmp, web_enabled=True)
    worker = RunningWorker(settings, tmp / "worker.log")
    prom = None
    try:
        worker.start()
        prom = PrometheusServer(tmp, f"127.0.0.1:{settings.web_port}")
        prom.wait_ready()
        # Prometheus takes a few seconds to its first scrape, and the worker reads these events in a few
        # seconds: wait for scrapes, then send the traffic in slices so the counters rise between scrapes.
        _wait(lambda: prom.value(f'count_over_time(up{{job="{JOB}"}}[1m])') >= 2, "first scrapes")
        scenario = simulator.Scenario(seed=3, hours=1.0, scale=0.03, duplicate_rate=0.01, invalid_rate=0.01)
        events = [(_key(raw), raw) for _, _, raw in simulator.generate(scenario)]
        sent = 0
        for i in range(0, len(events), 1000):
            sent += produce(kafka_bootstrap, settings.input_topic, events[i : i + 1000])
            time.sleep(2)
        read = f'sum(distillwatch_events_total{{job="{JOB}", outcome=~"valid|invalid|duplicate"}})'
        _wait(lambda: prom.value(read) >= sent, f"{sent} events read by the worker, seen in Prometheus")
        # the 5 s state timer has reported, and the rules have evaluated over the new samples
        _wait(lambda: prom.value(f'sum(distillwatch_accounts_tracked{{job="{JOB}"}})') > 0, "accounts tracked")
        _wait(lambda: prom.value(f'job:distillwatch_events_read:rate5m{{job="{JOB}"}}') > 0, "recording rules")
        yield dict(prom=prom, settings=settings, sent=sent)
    finally:
        if prom is not None:
            prom.stop()
        worker.stop()


def _key(raw: bytes) -> bytes | None:
    try:
        return orjson.loads(raw)["account_id"].encode()
    except Exception:  # malformed on purpose: sent without a key, the worker rejects it
        return None


def test_every_dashboard_panel_query_parses_and_returns_data(stack):
    prom = stack["prom"]
    port = stack["settings"].web_port
    failures = []
    exprs = dashboard_exprs()
    assert len(exprs) >= 30
    for dashboard, title, expr in exprs:
        for instance in (".*", f"127.0.0.1:{port}"):  # "All", and the one worker picked
            q = substitute(expr, job=JOB, instance=instance, rate_interval="5m", range_="10m")
            answer = prom.query(q)
            if answer.get("status") != "success":
                failures.append(f"{dashboard} / {title}: {answer.get('error')} in {q}")
            elif not answer["data"]["result"]:
                failures.append(f"{dashboard} / {title}: no data for {q}")
    assert failures == []


def test_dashboard_variables_find_the_job_and_the_worker(stack):
    prom = stack["prom"]
    jobs = prom.api("label/job/values", **{"match[]": "distillwatch_events_total"})["data"]
    assert jobs == [JOB]
    instances = prom.api("label/instance/values", **{"match[]": f'distillwatch_events_total{{job="{JOB}"}}'})["data"]
    assert instances == [f"127.0.0.1:{stack['settings'].web_port}"]


def test_rules_load_and_every_recording_rule_has_data(stack):
    prom = stack["prom"]
    groups = prom.api("rules")["data"]["groups"]
    assert {g["name"] for g in groups} == {"distillwatch.recording", "distillwatch.alerts"}
    for g in groups:
        for r in g["rules"]:
            assert r["health"] == "ok", (r["name"], r.get("lastError"))
    for name in sorted(recorded_names()):
        assert prom.query(name)["data"]["result"], f"no data for {name}"
    # an hour of simulated traffic replayed hours after it happened: the lag alert is pending or firing
    lag = prom.value(f'job:distillwatch_processing_lag_seconds:max{{job="{JOB}"}}')
    assert lag > 300


def test_worker_metrics_expose_every_declared_family_with_the_pipeline_instrumented(stack):
    url = f"http://127.0.0.1:{stack['settings'].web_port}/metrics"
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    declared = {f.name for f in Metrics().registry.collect()} | {n.removesuffix("_total") for n in FAUST_FAMILIES}
    assert declared - set(families) == set()

    def sample(name: str, **labels) -> float:
        return sum(s.value for f in families.values() for s in f.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    for stage in ("decode", "detect", "state_write", "emit"):
        assert sample("distillwatch_stage_seconds_count", stage=stage) > 0, stage
    assert sample("distillwatch_account_score_count") > 0
    assert sample("distillwatch_gc_pause_seconds_count", generation="0") > 0  # the worker times its collections
    assert sample("distillwatch_alert_signals_total") > 0  # the harvesters' alerts, by top signal
    # states are written once per offset commit, not per event: fewer writes than events, but some
    assert 0 < sample("distillwatch_account_state_bytes_count") < sample("distillwatch_events_total", outcome="valid")
    assert sample("distillwatch_last_event_timestamp_seconds") > 1.7e9
    assert sample("distillwatch_faust_messages_received_total") >= stack["sent"]
    assert sample("distillwatch_invalid_events_total") > 0
    assert "account_id" not in text and "acct-" not in text  # no account ids in labels
