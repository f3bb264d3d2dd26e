"""The Grafana files (grafana/) are well formed and agree with the code.

No Grafana server can be installed here; what Grafana would do with the panel
queries is checked against a real Prometheus in tests/test_grafana_prometheus.py.
"""

from __future__ import annotations

import json

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.app import build_app
from streams.settings import Settings
from tests.promql import DASHBOARDS, ROOT, dashboard_exprs, metric_names, panels, recorded_names, rule_exprs

PROVISIONING = ROOT / "grafana" / "provisioning"


def datasource_uid() -> str:
    (ds,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())["datasources"]
    return ds["uid"]


def test_dashboard_provider_loads_the_dashboards_folder():
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "distillwatch.yaml").read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].rstrip("/").endswith("/dashboards/distillwatch")
    assert [p.name for p in DASHBOARDS] == ["distillwatch-oncall.json", "distillwatch-operator.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path):
    d = json.loads(path.read_text())
    uid = datasource_uid()
    assert d["uid"] == path.stem and d["title"].startswith("distillwatch")
    assert 36 <= d["schemaVersion"] <= 41
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert set(variables) == {"job", "instance"}
    for v in variables.values():
        assert v["datasource"]["uid"] == uid
    assert variables["instance"]["includeAll"] and variables["instance"]["allValue"] == ".*"
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    occupied: set[tuple[int, int]] = set()
    n_queries = 0
    for p in panels(d):
        g = p["gridPos"]
        assert g["w"] >= 1 and g["h"] >= 1 and 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["y"] >= 0, p["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & occupied, f"panel {p['title']!r} overlaps another"
        occupied |= cells
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": uid}, p["title"]
        assert p["targets"], p["title"]
        assert p.get("description"), p["title"]
        ref_ids = [t["refId"] for t in p["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == uid, p["title"]
            assert 'job="$job"' in t["expr"] and 'instance=~"$instance"' in t["expr"], (p["title"], t["expr"])
            n_queries += 1
    assert n_queries >= 15


def test_the_dashboards_show_what_the_issue_asks_for():
    """Point 3 of issue 4, as metric families each dashboard must query."""
    want = {
        "distillwatch-oncall.json": {  # traffic, alerts, top signals, clusters, actions, pipeline health
            "distillwatch_events_total", "distillwatch_alerts_total", "distillwatch_alert_signals_total",
            "distillwatch_clusters_active", "distillwatch_actions_total", "distillwatch_actions_halted",
            "distillwatch_processing_lag_seconds", "distillwatch_consumer_lag_messages", "up",
        },
        "distillwatch-operator.json": {  # lag, throughput, latency, rebalances, state size, models, delivery
            "distillwatch_processing_lag_seconds", "distillwatch_event_lag_seconds_bucket",
            "distillwatch_stage_seconds_bucket", "distillwatch_rebalances_total",
            "distillwatch_account_state_bytes_bucket", "distillwatch_anomaly_model_warm_partitions",
            "distillwatch_behaviour_changes_total", "distillwatch_account_score_bucket",
            "distillwatch_webhook_deliveries_total", "distillwatch_alertmanager_posts_total",
        },
    }
    for name, families in want.items():
        used = set().union(*(metric_names(e) for d, _, e in dashboard_exprs() if d == name))
        assert families - used == set(), name


@pytest.fixture(scope="module")
def exposed(tmp_path_factory) -> set[str]:
    """Sample names a worker built by build_app exposes (building it needs no broker)."""
    s = Settings(broker="127.0.0.1:9", datadir=tmp_path_factory.mktemp("data"), web_enabled=False)
    text = generate_latest(build_app(s).metrics.registry).decode()
    return {sample.name for fam in text_string_to_metric_families(text) for sample in fam.samples}


@pytest.mark.parametrize("source", ["dashboards", "rules"])
def test_every_metric_queried_is_exposed_by_the_worker(source, exposed):
    """Catches a renamed or removed metric that a panel or rule still queries."""
    exprs = [e for _, _, e in dashboard_exprs()] if source == "dashboards" else rule_exprs()
    used = set().union(*(metric_names(e) for e in exprs))
    assert used
    known = exposed | recorded_names() | {"up"}  # up: Prometheus' own series per target
    assert used - known == set()
