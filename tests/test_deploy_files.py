"""The files under deploy/ and grafana/ stay true to the code."""

from __future__ import annotations

from pathlib import Path

import yaml

from streams.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_example_settings_file_is_valid_and_sets_only_known_settings():
    s = load_settings(ROOT / "deploy" / "distillwatch.example.toml")
    assert s.broker == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    assert s.store == "rocksdb://" and s.replication_factor == 3


def test_prometheus_scrapes_the_worker_metrics_endpoint():
    conf = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    job = conf["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    default_port = Settings.model_fields["web_port"].default
    assert job["static_configs"][0]["targets"] == [f"127.0.0.1:{default_port}"]


def test_grafana_datasource_points_at_prometheus():
    conf = yaml.safe_load((ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    (ds,) = conf["datasources"]
    assert ds["type"] == "prometheus" and ds["url"].endswith(":9090")
