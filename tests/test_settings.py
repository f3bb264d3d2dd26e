"""streams.settings: defaults, environment variables, config files, errors.

Every error test checks that the message names the environment variable (or
the config-file key) an operator has to fix, because that message is all the
CLI prints before exiting with status 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from streams.settings import ENV_PREFIX, Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[1]
PACKAGED_RULES = REPO / "detectors" / "rules.yaml"
PACKAGED_ACTIONS = REPO / "detectors" / "actions.yaml"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks test vector's secret
WEBHOOK_SECRET_FILE = REPO / "tests" / "data" / "webhook-secret.txt"



def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(extra)
    return env


# -- defaults ------------------------------------------------------------------


def test_defaults():
    s = load_settings()
    assert s.broker is None
    assert s.app_id == "distillwatch"
    assert s.input_topic == "api-requests"
    assert s.rekey_topic == "api-requests-rekeyed"
    assert s.dlq_topic == "api-requests-dlq"
    assert s.alerts_topic == "abuse-alerts"
    assert s.partitions == 8
    assert s.replication_factor == 1
    assert s.store == "memory://"
    assert s.datadir == Path(".distillwatch-data")
    assert s.web_enabled is True
    assert s.web_host == "127.0.0.1"
    assert s.web_port == 6066
    assert s.session_timeout == 8.0
    assert s.producer_max_batch_size == 16384
    assert s.max_event_bytes == 1_048_576
    assert s.dlq_redact_prompt is True
    assert s.rules_file is None
    assert s.log_level == "info"


def test_settings_are_frozen():
    s = load_settings()
    with pytest.raises(ValidationError):
        s.partitions = 3  # type: ignore[misc]
    assert s.partitions == 8


def test_every_field_has_a_description():
    for name, info in Settings.model_fields.items():
        assert info.description, name


# -- every field through its environment variable --------------------------------

# field -> (environment text, expected parsed value)
ENV_CASES: dict[str, tuple[str, object]] = {
    "broker": ("kafka-1:9092", "kafka-1:9092"),
    "app_id": ("dw-prod.eu_1", "dw-prod.eu_1"),
    "input_topic": ("in.requests", "in.requests"),
    "rekey_topic": ("in.rekeyed", "in.rekeyed"),
    "dlq_topic": ("in.dlq", "in.dlq"),
    "alerts_topic": ("out_alerts", "out_alerts"),
    "fingerprints_topic": ("dw.fp", "dw.fp"),
    "labels_topic": ("dw.labels", "dw.labels"),
    "evidence_topic": ("dw.evidence", "dw.evidence"),
    "partitions": ("16", 16),
    "replication_factor": ("3", 3),
    "store": ("rocksdb://", "rocksdb://"),
    "datadir": ("/var/lib/distillwatch", Path("/var/lib/distillwatch")),
    "web_enabled": ("false", False),
    "web_host": ("0.0.0.0", "0.0.0.0"),
    "web_port": ("7070", 7070),
    "session_timeout": ("2.5", 2.5),
    "producer_max_batch_size": ("1", 1),
    "max_event_bytes": ("4096", 4096),
    "max_message_bytes": ("65536", 65536),
    "account_idle_seconds": ("3600", 3600.0),
    "consumer_fetch_wait_ms": ("20", 20),
    "expiry_sweep_seconds": ("5", 5.0),
    "max_message_events": ("100", 100),
    "dlq_redact_prompt": ("false", False),  # [badinput]
    "context_checkpoint_seconds": ("5", 5.0),
    "state_cache_accounts": ("500", 500),
    "rules_file": (str(PACKAGED_RULES), PACKAGED_RULES),
    "log_level": ("WARNING", "warning"),
    # rate-limit actions and webhooks
    "actions_enabled": ("false", False),
    "actions_topic": ("dw.actions", "dw.actions"),
    "actions_shadow": ("false", False),
    "actions_file": (str(PACKAGED_ACTIONS), PACKAGED_ACTIONS),
    "actions_allowlist": ("acct-1, acct-2", ["acct-1", "acct-2"]),
    "actions_allowlist_file": (str(PACKAGED_ACTIONS), PACKAGED_ACTIONS),
    "actions_breaker_share": ("0.2", 0.2),
    "actions_breaker_close_share": ("0.01", 0.01),
    "actions_breaker_window_seconds": ("60", 60.0),
    "actions_breaker_min_active": ("10", 10),
    "actions_max_lag_seconds": ("30", 30.0),
    "actions_warmup_guard": ("false", False),
    "webhook_urls": ("http://127.0.0.1:9/a, https://hooks.example/b", ["http://127.0.0.1:9/a", "https://hooks.example/b"]),
    "webhook_secret": (WEBHOOK_SECRET, SecretStr(WEBHOOK_SECRET)),
    "webhook_secret_file": (str(WEBHOOK_SECRET_FILE), WEBHOOK_SECRET_FILE),
    "webhook_max_attempts": ("3", 3),
    "webhook_timeout_seconds": ("1.5", 1.5),
    "webhook_queue_size": ("10", 10),
    # Alertmanager, explain view, admin auth
    "alertmanager_url": ("http://alertmanager:9093/", "http://alertmanager:9093"),
    "alertmanager_resend_seconds": ("15", 15.0),
    "public_url": ("https://dw.example/", "https://dw.example"),
    "admin_token": ("s3cret", SecretStr("s3cret")),
    "admin_token_file": (str(PACKAGED_RULES), PACKAGED_RULES),  # any existing file
    # input formats
    "input_format": ("otlp_json", "otlp_json"),
    "otlp_account_attribute": ("tenant.id, user.id", ["tenant.id", "user.id"]),
    "litellm_account_field": ("org_id,key_hash", ["org_id", "key_hash"]),
    # Kafka TLS and SASL
    "kafka_security_protocol": ("SASL_SSL", "SASL_SSL"),
    "kafka_ssl_cafile": (str(PACKAGED_RULES), PACKAGED_RULES),  # existence is what is checked
    "kafka_ssl_certfile": (str(PACKAGED_RULES), PACKAGED_RULES),
    "kafka_ssl_keyfile": (str(PACKAGED_ACTIONS), PACKAGED_ACTIONS),
    "kafka_ssl_key_password": ("k3y", SecretStr("k3y")),
    "kafka_ssl_key_password_file": (str(PACKAGED_RULES), PACKAGED_RULES),
    "kafka_sasl_mechanism": ("SCRAM-SHA-512", "SCRAM-SHA-512"),
    "kafka_sasl_username": ("dw", "dw"),
    "kafka_sasl_password": ("s4sl", SecretStr("s4sl")),
    "kafka_sasl_password_file": (str(PACKAGED_RULES), PACKAGED_RULES),
}
#: Fields whose single-variable case needs a companion setting.
ENV_COMPANIONS = {
    "webhook_urls": {"WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    "kafka_security_protocol": {"KAFKA_SASL_USERNAME": "dw", "KAFKA_SASL_PASSWORD": "s4sl"},
    "kafka_ssl_certfile": {"KAFKA_SSL_KEYFILE": str(PACKAGED_ACTIONS)},
    "kafka_ssl_keyfile": {"KAFKA_SSL_CERTFILE": str(PACKAGED_RULES)},
}
#: Left out of the all-together case: each excludes its twin (only one secret source may be set).
NOT_TOGETHER = {"webhook_secret_file", "admin_token_file", "kafka_ssl_key_password_file", "kafka_sasl_password_file"}


def test_env_cases_cover_every_field():
    assert set(ENV_CASES) == set(Settings.model_fields)


@pytest.mark.parametrize("field", sorted(ENV_CASES))
def test_each_field_from_its_env_var(monkeypatch, field):
    text, expected = ENV_CASES[field]
    monkeypatch.setenv(f"{ENV_PREFIX}{field.upper()}", text)
    for name, companion in ENV_COMPANIONS.get(field, {}).items():
        monkeypatch.setenv(f"{ENV_PREFIX}{name}", companion)
    s = load_settings()
    value = getattr(s, field)
    assert value == expected
    assert type(value) is type(expected) or isinstance(value, Path) and isinstance(expected, Path)
    assert value != Settings.model_fields[field].default  # really changed from the default


@pytest.mark.parametrize(
    "text, expected", [("true", True), ("1", True), ("yes", True), ("on", True), ("0", False), ("no", False), ("off", False)]
)
def test_bool_env_values(monkeypatch, text, expected):
    monkeypatch.setenv("DISTILLWATCH_WEB_ENABLED", text)
    assert load_settings().web_enabled is expected


def test_all_fields_together_from_env(monkeypatch):
    cases = {f: case for f, case in ENV_CASES.items() if f not in NOT_TOGETHER}
    for field, (text, _) in cases.items():
        monkeypatch.setenv(f"{ENV_PREFIX}{field.upper()}", text)
    s = load_settings()
    assert {f: getattr(s, f) for f in cases} == {f: v for f, (_, v) in cases.items()}


# -- broker --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, normalized, faust",
    [
        ("kafka://h:1", "h:1", "kafka://h:1"),
        ("h1:1,h2:2", "h1:1,h2:2", "kafka://h1:1;kafka://h2:2"),
        (" h1:1 , h2:2 ", "h1:1,h2:2", "kafka://h1:1;kafka://h2:2"),
        ("[::1]:9092", "[::1]:9092", "kafka://[::1]:9092"),
        ("10.0.0.7:65535", "10.0.0.7:65535", "kafka://10.0.0.7:65535"),
    ],
)
def test_broker_accepted_and_normalized(monkeypatch, text, normalized, faust):
    monkeypatch.setenv("DISTILLWATCH_BROKER", text)
    s = load_settings()
    assert s.broker == normalized
    assert s.faust_broker == faust


def test_blank_broker_is_unset(monkeypatch):
    monkeypatch.setenv("DISTILLWATCH_BROKER", "  ")
    s = load_settings()
    assert s.broker is None
    with pytest.raises(SettingsError, match="DISTILLWATCH_BROKER"):
        s.faust_broker  # noqa: B018


@pytest.mark.parametrize("text", ["nohost", "h:99999", "h:", "h:0", "h:1,", "host name:1"])
def test_broker_rejected(monkeypatch, text):
    monkeypatch.setenv("DISTILLWATCH_BROKER", text)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "DISTILLWATCH_BROKER" in str(info.value)


# -- bad values name their variable ------------------------------------------------


@pytest.mark.parametrize(
    "var, text, hint",
    [
        ("DISTILLWATCH_PARTITIONS", "0", "greater than or equal to 1"),
        ("DISTILLWATCH_PARTITIONS", "abc", "integer"),
        ("DISTILLWATCH_PARTITIONS", "2000", "1024"),
        ("DISTILLWATCH_STORE", "redis://", "redis://"),
        ("DISTILLWATCH_INPUT_TOPIC", "a b", "topic"),
        ("DISTILLWATCH_DLQ_TOPIC", "..", "topic"),
        ("DISTILLWATCH_APP_ID", "my app", "my app"),
        ("DISTILLWATCH_LOG_LEVEL", "loud", "loud"),
        ("DISTILLWATCH_RULES_FILE", "/definitely/missing/rules.yaml", "does not exist"),
        ("DISTILLWATCH_WEB_PORT", "0", "greater than or equal to 1"),
        ("DISTILLWATCH_WEB_PORT", "70000", "65535"),
        ("DISTILLWATCH_WEB_ENABLED", "maybe", "boolean"),
        ("DISTILLWATCH_SESSION_TIMEOUT", "0", "greater than 0"),
        ("DISTILLWATCH_MAX_EVENT_BYTES", "10", "256"),
    ],
)
def test_bad_env_value_names_the_variable(monkeypatch, var, text, hint):
    monkeypatch.setenv(var, text)
    with pytest.raises(SettingsError) as info:
        load_settings()
    msg = str(info.value)
    assert var in msg
    assert hint in msg
    # only the offending variable is blamed
    others = [f"{ENV_PREFIX}{f.upper()}" for f in Settings.model_fields if f"{ENV_PREFIX}{f.upper()}" != var]
    assert not [o for o in others if o + ":" in msg]


def test_duplicate_topic_names_name_both_variables(monkeypatch):
    monkeypatch.setenv("DISTILLWATCH_ALERTS_TOPIC", "api-requests")  # same as the default input topic
    with pytest.raises(SettingsError) as info:
        load_settings()
    msg = str(info.value)
    assert "DISTILLWATCH_ALERTS_TOPIC" in msg
    assert "DISTILLWATCH_INPUT_TOPIC" in msg
    assert "must name a different topic" in msg


def test_duplicate_topic_names_between_two_env_vars(monkeypatch):
    monkeypatch.setenv("DISTILLWATCH_DLQ_TOPIC", "same")
    monkeypatch.setenv("DISTILLWATCH_REKEY_TOPIC", "same")
    with pytest.raises(SettingsError) as info:
        load_settings()
    msg = str(info.value)
    assert "DISTILLWATCH_DLQ_TOPIC" in msg and "DISTILLWATCH_REKEY_TOPIC" in msg
    assert "DISTILLWATCH_INPUT_TOPIC" not in msg


def test_single_problem_is_one_line(monkeypatch):
    monkeypatch.setenv("DISTILLWATCH_PARTITIONS", "0")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "\n" not in str(info.value)


def test_several_problems_are_all_reported(monkeypatch):
    monkeypatch.setenv("DISTILLWATCH_PARTITIONS", "0")
    monkeypatch.setenv("DISTILLWATCH_STORE", "redis://")
    with pytest.raises(SettingsError) as info:
        load_settings()
    msg = str(info.value)
    assert "DISTILLWATCH_PARTITIONS" in msg and "DISTILLWATCH_STORE" in msg


def test_unknown_env_var_rejected(monkeypatch):
    monkeypatch.setenv("DISTILLWATCH_FOO", "1")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "DISTILLWATCH_FOO" in str(info.value)
    assert "unknown" in str(info.value)


def test_the_interpreted_switch_is_not_an_unknown_setting(monkeypatch):
    """DISTILLWATCH_PURE_PYTHON is read by detectors at import, not a setting, and must not stop a worker."""
    monkeypatch.setenv("DISTILLWATCH_PURE_PYTHON", "1")
    assert load_settings().partitions == 8


def test_config_env_var_is_not_unknown(monkeypatch, tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("")
    monkeypatch.setenv("DISTILLWATCH_CONFIG", str(f))
    assert load_settings().partitions == 8


# -- config files ---------------------------------------------------------------


def test_toml_config_file(tmp_path):
    f = tmp_path / "dw.toml"
    f.write_text('broker = "kafka://k1:9092,k2:9093"\npartitions = 3\nlog-level = "DEBUG"\nweb_enabled = false\n')
    s = load_settings(f)
    assert s.broker == "k1:9092,k2:9093"
    assert s.partitions == 3
    assert s.log_level == "debug"
    assert s.web_enabled is False


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_config_file(tmp_path, suffix):
    f = tmp_path / f"dw{suffix}"
    f.write_text("broker: k1:9092\npartitions: 5\nsession_timeout: 3.5\ndatadir: /srv/dw\n")
    s = load_settings(str(f))
    assert s.broker == "k1:9092"
    assert s.partitions == 5
    assert s.session_timeout == 3.5
    assert s.datadir == Path("/srv/dw")


def test_empty_yaml_file_gives_defaults(tmp_path):
    f = tmp_path / "empty.yaml"
    f.write_text("")
    assert load_settings(f) == Settings()


def test_env_wins_over_file_and_overrides_win_over_env(monkeypatch, tmp_path):
    f = tmp_path / "dw.toml"
    f.write_text('partitions = 3\nweb_port = 7001\nlog_level = "error"\n')
    monkeypatch.setenv("DISTILLWATCH_PARTITIONS", "5")
    monkeypatch.setenv("DISTILLWATCH_WEB_PORT", "7002")
    s = load_settings(f, web_port=7003, log_level=None)  # None overrides are "not given"
    assert s.partitions == 5  # env over file
    assert s.web_port == 7003  # override over env
    assert s.log_level == "error"  # file over default; None override ignored


def test_env_var_overriding_file_value_masks_bad_file_value(monkeypatch, tmp_path):
    f = tmp_path / "dw.toml"
    f.write_text("partitions = 0\n")
    monkeypatch.setenv("DISTILLWATCH_PARTITIONS", "4")
    assert load_settings(f).partitions == 4


def test_override_is_validated():
    with pytest.raises(SettingsError, match="DISTILLWATCH_PARTITIONS"):
        load_settings(partitions=0)


def test_unknown_key_in_file_rejected(tmp_path):
    f = tmp_path / "dw.yaml"
    f.write_text("partitions: 2\nbogus_key: 1\n")
    with pytest.raises(SettingsError) as info:
        load_settings(f)
    msg = str(info.value)
    assert "bogus_key" in msg
    assert str(f) in msg


def test_bad_value_in_file_names_the_setting_and_the_file(tmp_path):
    f = tmp_path / "dw.toml"
    f.write_text("partitions = 0\n")
    with pytest.raises(SettingsError) as info:
        load_settings(f)
    assert "'partitions' in " + str(f) in str(info.value)


@pytest.mark.parametrize(
    "name, text",
    [("bad.toml", "broker = \n"), ("bad.yaml", "broker: [\n"), ("list.yaml", "- a\n- b\n"), ("dw.json", "{}")],
)
def test_unparsable_or_wrong_kind_of_file(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(f)
    assert str(f) in str(info.value)


def test_wrong_suffix_message(tmp_path):
    f = tmp_path / "dw.ini"
    f.write_text("partitions = 2\n")
    with pytest.raises(SettingsError, match=r"\.toml, \.yaml or \.yml"):
        load_settings(f)


def test_missing_config_file(tmp_path):
    with pytest.raises(SettingsError, match="cannot read config file"):
        load_settings(tmp_path / "nope.toml")


def test_config_env_var_picks_the_file(monkeypatch, tmp_path):
    f = tmp_path / "dw.yaml"
    f.write_text("partitions: 11\n")
    monkeypatch.setenv("DISTILLWATCH_CONFIG", str(f))
    assert load_settings().partitions == 11


def test_explicit_config_file_wins_over_config_env_var(monkeypatch, tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("partitions: 11\n")
    b = tmp_path / "b.toml"
    b.write_text("partitions = 12\n")
    monkeypatch.setenv("DISTILLWATCH_CONFIG", str(a))
    assert load_settings(b).partitions == 12


# -- with_overrides ------------------------------------------------------------


def test_with_overrides_returns_validated_copy():
    s = load_settings()
    t = s.with_overrides(partitions=2, broker="kafka://a:1, b:2")
    assert (t.partitions, t.broker) == (2, "a:1,b:2")
    assert s.partitions == 8 and s.broker is None  # original unchanged


@pytest.mark.parametrize(
    "kw, var",
    [
        ({"partitions": 0}, "DISTILLWATCH_PARTITIONS"),
        ({"broker": "nohost"}, "DISTILLWATCH_BROKER"),
        ({"dlq_topic": "abuse-alerts"}, "DISTILLWATCH_DLQ_TOPIC"),
    ],
)
def test_with_overrides_validates(kw, var):
    with pytest.raises(SettingsError, match=var):
        load_settings().with_overrides(**kw)


def test_with_overrides_rejects_unknown_field():
    with pytest.raises(SettingsError, match="no_such_field"):
        load_settings().with_overrides(no_such_field=1)


# -- the CLI's handling (subprocess: exactly what an operator sees) ---------------


def _run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=REPO,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_bad_env_var_exits_2_with_one_line():
    r = _run_cli("settings", DISTILLWATCH_PARTITIONS="0")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "DISTILLWATCH_PARTITIONS" in lines[0]
    assert lines[0].startswith("distillwatch settings:")
    assert r.stdout == ""


def test_cli_unknown_env_var_exits_2():
    r = _run_cli("settings", DISTILLWATCH_FOO="bar")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "DISTILLWATCH_FOO" in r.stderr


def test_cli_worker_without_broker_exits_2():
    r = _run_cli("worker")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "DISTILLWATCH_BROKER" in r.stderr


def test_a_child_worker_gets_the_same_settings_back_from_its_environment(monkeypatch):
    """WorkerProcess passes settings to the child as variables: secrets must
    arrive unmasked and lists as lists, or the child would run with other
    settings (or fail) than the parent built."""
    from streams.demo import _env_value

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    parent = Settings(broker="127.0.0.1:9092", webhook_secret=SecretStr(secret),
                      webhook_urls=["http://127.0.0.1:1/a", "http://127.0.0.1:2/b"], actions_allowlist=["x", "y,z"])
    for k, v in parent.model_dump().items():
        if v is not None:
            monkeypatch.setenv(f"{ENV_PREFIX}{k.upper()}", _env_value(v))
    child = load_settings()
    assert child.webhook_secret.get_secret_value() == secret
    assert child.webhook_urls == parent.webhook_urls
    assert child.actions_allowlist == parent.actions_allowlist
    assert child.model_dump() == parent.model_dump()


def test_the_consumer_fetch_wait_reaches_the_kafka_consumer(tmp_path):
    """Faust hard-codes a 1.5 s fetch wait; the worker's consumer takes the setting instead."""
    import asyncio

    from streams.app import build_app

    s = Settings(broker="127.0.0.1:1", consumer_fetch_wait_ms=37, datadir=tmp_path, web_enabled=False)

    async def make():
        app = build_app(s).app
        async def nothing(*args, **kwargs):
            return None

        thread = app.transport.Consumer(app.transport, callback=nothing, on_partitions_revoked=nothing,
                                        on_partitions_assigned=nothing)._thread
        return thread._create_worker_consumer(app.transport)

    consumer = asyncio.run(make())
    assert consumer._fetch_max_wait_ms == 37
