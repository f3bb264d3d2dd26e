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


# --------------------------------------------------------------------------- container, compose, Kubernetes
#
# No container engine or cluster runs here, so these tests check what can be checked
# without one: the files parse, everything they mount or copy exists in the repository,
# every DISTILLWATCH_* variable they set is a setting (and its value validates), every
# image is pinned, and the Kubernetes objects have probes, resources, a PDB and Secrets.

import glob  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402

from streams.settings import ENV_PREFIX  # noqa: E402

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
K8S_FILES = sorted(K8S.glob("*.yaml")) + sorted((K8S / "dev").glob("*.yaml"))
K8S_DOCS = [d for p in K8S_FILES for d in yaml.safe_load_all(p.read_text()) if d]
#: An exact version tag (x.y.z, optional "v" and suffix) or a digest: never a tag that moves.
PINNED = re.compile(r"^[a-z0-9./_-]+(:v?[0-9]+\.[0-9]+\.[0-9]+[A-Za-z0-9._-]*|(:[^:@]+)?@sha256:[0-9a-f]{64})$")


def _kind(kind: str, name: str | None = None) -> list[dict]:
    return [d for d in K8S_DOCS if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def _interpolated(value: str) -> str:
    """Compose's ${VAR:?msg} / ${VAR:-default}: a stand-in value, as the user's environment would give."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "from-the-environment", value))


def _check_settings_env(env: dict[str, str], monkeypatch) -> None:
    """Every DISTILLWATCH_* variable is a setting, and together they validate (files need not exist here)."""
    names = {k for k in env if k.startswith(ENV_PREFIX)}
    assert names, "no settings at all?"
    unknown = {k for k in names if k[len(ENV_PREFIX):].lower() not in Settings.model_fields}
    assert not unknown, f"not settings: {sorted(unknown)}"
    for k in names:
        if not k.endswith("_FILE"):  # paths inside the container: their existence is checked there
            monkeypatch.setenv(k, _interpolated(str(env[k])).replace("$(POD_NAME)", "distillwatch-0"))
    load_settings()


def test_pinned_means_a_version_or_a_digest():
    for ok in ("apache/kafka:3.9.0", "prom/prometheus:v2.55.1", "python:3.11.11-slim-bookworm",
               "a/b@sha256:" + "0" * 64):
        assert PINNED.match(ok), ok
    for loose in ("grafana/grafana", "grafana/grafana:latest", "python:3", "python:3.11-slim", "kafka:stable"):
        assert not PINNED.match(loose), loose


def test_every_compose_image_is_pinned_and_the_dockerfile_base_too():
    images = [svc["image"] for svc in COMPOSE["services"].values()]
    assert images and all(PINNED.match(i) for i in images), images
    assert not any(i.endswith(":latest") for i in images)
    dockerfile = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.M)
    assert PINNED.match(base) and base.startswith("python:3.11.")
    assert all(f.split()[1] in ("${PYTHON_IMAGE}",) for f in re.findall(r"^FROM .*$", dockerfile, re.M))


def test_dockerfile_runs_as_a_non_root_user_with_a_health_check_and_copies_what_exists():
    dockerfile = (ROOT / "Dockerfile").read_text()
    (user,) = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert not user.startswith(("0", "root"))
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", dockerfile, re.M)
    assert 'ENTRYPOINT ["distillwatch"]' in dockerfile
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
        for path in src.split():
            assert (ROOT / path).exists(), path
            assert f"!{path.rstrip('/')}/" in ignore or f"!{path}" in ignore, f"{path} is not in the build context"
    env = dict(re.findall(r"(DISTILLWATCH_[A-Z_]+)=(\S+)", dockerfile))
    assert all(k[len(ENV_PREFIX):].lower() in Settings.model_fields for k in env), env


def test_compose_runs_kafka_in_kraft_mode_two_workers_and_the_monitoring_stack():
    services = COMPOSE["services"]
    assert {"kafka", "worker-1", "worker-2", "prometheus", "alertmanager", "grafana"} <= set(services)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft: no ZooKeeper
    for name in ("worker-1", "worker-2"):
        w = services[name]
        assert w["build"]["context"] == ".." and (DEPLOY / w["build"]["context"] / w["build"]["dockerfile"]).is_file()
        assert w["environment"]["DISTILLWATCH_BROKER"] == "kafka:9092"
        assert w["depends_on"]["kafka"]["condition"] == "service_healthy"
    for svc in services.values():  # published on the host's loopback only
        assert all(str(p).startswith("127.0.0.1:") for p in svc.get("ports", [])), svc.get("ports")


@pytest.mark.parametrize("name", ["worker-1", "worker-2"])
def test_compose_worker_environment_is_settings_that_validate(name, monkeypatch):
    _check_settings_env(COMPOSE["services"][name]["environment"], monkeypatch)


def test_every_file_and_folder_compose_mounts_exists():
    mounts = []
    for svc in COMPOSE["services"].values():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                mounts.append(src)
    assert len(mounts) >= 6
    for src in mounts:
        path = DEPLOY / src
        assert path.exists(), f"compose mounts {src}, which is not in the repository"
        if path.is_dir():
            assert any(path.iterdir()), f"{src} is empty"


def test_compose_prometheus_scrapes_both_workers_loads_the_rules_and_alerts_alertmanager():
    conf = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    (job,) = conf["scrape_configs"]
    port = Settings.model_fields["web_port"].default
    assert job["job_name"] == "distillwatch"  # the rules select job="distillwatch"
    assert job["static_configs"][0]["targets"] == [f"worker-1:{port}", f"worker-2:{port}"]
    mount = next(v for v in COMPOSE["services"]["prometheus"]["volumes"] if v.startswith("./prometheus/rules:"))
    inside = mount.split(":")[1]
    for pattern in conf["rule_files"]:
        assert pattern.startswith(inside + "/")
        assert glob.glob(str(DEPLOY / "prometheus" / "rules" / pattern[len(inside) + 1:])), pattern
    assert conf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_compose_grafana_gets_the_dashboards_and_a_datasource_they_find():
    vols = COMPOSE["services"]["grafana"]["volumes"]
    provider = yaml.safe_load((ROOT / "grafana" / "provisioning" / "dashboards" / "distillwatch.yaml").read_text())
    (prov,) = provider["providers"]
    assert f"../grafana/dashboards:{prov['options']['path']}:ro" in vols
    (ds,) = yaml.safe_load((DEPLOY / "compose" / "grafana-datasources" / "prometheus.yaml").read_text())["datasources"]
    assert ds["url"] == "http://prometheus:9090"
    for board in (ROOT / "grafana" / "dashboards").glob("*.json"):
        uids = set(re.findall(r'"datasource":\s*\{[^}]*"uid":\s*"([^"]+)"', board.read_text()))
        assert uids <= {ds["uid"], "-- Grafana --"}, (board.name, uids)


def test_kubernetes_manifests_parse_and_every_image_is_pinned():
    kinds = {d["kind"] for d in K8S_DOCS}
    assert {"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget", "Kustomization"} <= kinds
    images = [c["image"] for s in _kind("StatefulSet") for c in s["spec"]["template"]["spec"]["containers"]]
    assert images and all(PINNED.match(i) for i in images), images
    (kust,) = _kind("Kustomization")
    for res in kust["resources"]:
        assert (K8S / res).is_file(), res
    assert "secret.example.yaml" not in kust["resources"]  # a placeholder secret never reaches a cluster


def test_kubernetes_worker_has_probes_resources_and_a_locked_down_pod():
    (sts,) = _kind("StatefulSet", "distillwatch")
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    (cm,) = _kind("ConfigMap", "distillwatch-config")
    port = {p["name"]: p["containerPort"] for p in c["ports"]}["http"]
    assert str(port) == cm["data"]["DISTILLWATCH_WEB_PORT"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    # RocksDB on a volume per pod, at the datadir the settings name
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert mounts["data"] == cm["data"]["DISTILLWATCH_DATADIR"] and cm["data"]["DISTILLWATCH_STORE"] == "rocksdb://"
    assert {e["configMapRef"]["name"] for e in c["envFrom"]} == {"distillwatch-config"}


def test_kubernetes_settings_are_settings_and_secrets_come_from_the_secret(monkeypatch):
    (sts,) = _kind("StatefulSet", "distillwatch")
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    (cm,) = _kind("ConfigMap", "distillwatch-config")
    env = {**cm["data"], **{e["name"]: e.get("value", "") for e in c["env"] if e["name"].startswith(ENV_PREFIX)}}
    _check_settings_env(env, monkeypatch)
    secret_volume = next(v for v in sts["spec"]["template"]["spec"]["volumes"] if "secret" in v)
    assert secret_volume["secret"]["secretName"] == "distillwatch-secrets"
    mount = next(m for m in c["volumeMounts"] if m["name"] == secret_volume["name"])
    assert mount["readOnly"] is True
    # secrets only ever as files from the Secret: no token or password in the ConfigMap or the pod spec
    text = (K8S / "configmap.yaml").read_text() + (K8S / "statefulset.yaml").read_text()
    for name in ("ADMIN_TOKEN", "WEBHOOK_SECRET", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_KEY_PASSWORD"):
        assert not re.search(rf"^\s*#?\s*{ENV_PREFIX}{name}:", text, re.M), name
        for m in re.finditer(rf"{ENV_PREFIX}{name}_FILE: \"([^\"]+)\"", text):
            assert m.group(1).startswith(mount["mountPath"] + "/"), m.group(0)
    assert cm["data"]["DISTILLWATCH_ADMIN_TOKEN_FILE"].startswith(mount["mountPath"] + "/")
    (example,) = _kind("Secret", "distillwatch-secrets")
    assert cm["data"]["DISTILLWATCH_ADMIN_TOKEN_FILE"].rsplit("/", 1)[1] in example["stringData"]


def test_kubernetes_pdb_and_services_select_the_worker_pods():
    (sts,) = _kind("StatefulSet", "distillwatch")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (pdb,) = _kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] < sts["spec"]["replicas"]
    services = {s["metadata"]["name"]: s for s in _kind("Service")}
    assert services[sts["spec"]["serviceName"]]["spec"]["clusterIP"] == "None"
    for name in ("distillwatch", "distillwatch-headless"):
        assert services[name]["spec"]["selector"].items() <= labels.items()
        assert services[name]["spec"]["ports"][0]["targetPort"] == "http"
