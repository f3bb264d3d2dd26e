"""The one settings object of a distillwatch process.

Every field is read from an environment variable ``DISTILLWATCH_<FIELD>``
(for example ``DISTILLWATCH_BROKER=kafka-1:9092,kafka-2:9092``), optionally
from a TOML or YAML file named by ``DISTILLWATCH_CONFIG`` or ``--config``
(environment variables win over the file). Values are validated when the
object is built; :func:`load_settings` turns any problem into a
:class:`SettingsError` whose message names the variable and what is wrong,
and the CLI prints it and exits with status 2 before anything starts.

Run ``distillwatch settings`` to print the effective values.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from detectors import PURE_PYTHON_ENV

if TYPE_CHECKING:
    from detectors.adapters import Decoded

__all__ = ["Settings", "SettingsError", "load_settings", "ENV_PREFIX", "SECRET_FIELDS"]

ENV_PREFIX = "DISTILLWATCH_"
_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOSTPORT_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$")


TOPIC_FIELDS = (
    "input_topic",
    "rekey_topic",
    "dlq_topic",
    "alerts_topic",
    "labels_topic",
    "fingerprints_topic",
    "evidence_topic",
    "actions_topic",
)


#: Where the litellm input format may find the account (detectors/adapters/litellm.py ACCOUNT_FIELDS).
LiteLLMAccountField = Literal["team_id", "org_id", "key_hash", "user_id", "end_user"]

#: Settings whose values are never printed or put in error messages.
SECRET_FIELDS = ("webhook_secret", "admin_token", "kafka_ssl_key_password", "kafka_sasl_password")


class SettingsError(ValueError):
    """A setting is missing, malformed or inconsistent."""


class Settings(BaseSettings):
    """Validated settings; see each field's description for its meaning."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    broker: str | None = Field(
        None,
        description="Kafka bootstrap servers, 'host:port[,host:port...]' (a 'kafka://' prefix is "
        "accepted). Unset: commands that can start the embedded tansu broker do so.",
    )
    app_id: str = Field("distillwatch", description="Faust app id: consumer group and changelog topic prefix")
    input_topic: str = Field("api-requests", description="topic of API request events (contract v1)")
    rekey_topic: str = Field(
        "api-requests-rekeyed",
        description="internal topic where events that arrived without their account as key are re-keyed",
    )
    dlq_topic: str = Field("api-requests-dlq", description="dead-letter topic for rejected events")
    alerts_topic: str = Field("abuse-alerts", description="topic the alerts are written to (JSON, key = account_id)")
    labels_topic: str = Field(
        "analyst-labels", description="topic of analyst labels (JSON, key = account_id) the label model learns from"
    )
    fingerprints_topic: str = Field(
        "distillwatch-fingerprints",
        description="internal topic: account fingerprints repartitioned by fingerprint for coordination",
    )
    evidence_topic: str = Field(
        "distillwatch-evidence",
        description="internal topic: coordination evidence returned to accounts (key = account_id)",
    )
    partitions: int = Field(8, ge=1, le=1024, description="partitions of the input, re-key and table topics")
    replication_factor: int = Field(1, ge=1, le=16, description="replication factor of topics the app creates")
    store: str = Field("memory://", description="Faust table store: 'memory://' or 'rocksdb://'")
    datadir: Path = Field(Path("./.distillwatch-data"), description="directory for Faust's local state")
    web_enabled: bool = Field(True, description="serve the worker's HTTP endpoint")
    web_host: str = Field("127.0.0.1", description="address the worker's HTTP endpoint binds to")
    web_port: int = Field(6066, ge=1, le=65535, description="port of the worker's HTTP endpoint")
    session_timeout: float = Field(
        8.0, gt=0, le=300, description="Kafka consumer session timeout, seconds (group joins take about half)"
    )
    producer_max_batch_size: int = Field(
        16384,
        ge=1,
        description="Faust producer batch size in bytes; the embedded tansu broker needs 1 for "
        "changelog recovery (set automatically when distillwatch starts it)",
    )
    state_cache_accounts: int = Field(
        20_000, ge=0,
        description="unchanged account states kept decoded in memory between offset commits (changed ones are "
        "written to the table at each commit, then kept while under this count)",
    )
    context_checkpoint_seconds: float = Field(
        30.0, gt=0, le=3600,
        description="how often each partition's population context (online models) is written to its table",
    )
    max_event_bytes: int = Field(
        1_048_576, ge=256, le=64 * 1_048_576,
        description="largest accepted event, bytes; larger ones are rejected (code too_large) and not copied to "
        "the DLQ. Topics and brokers must admit messages of this size plus 16 KiB",
    )
    dlq_redact_prompt: bool = Field(
        True,
        description="take prompt text out of the dead-letter copies of rejected events (headers keep its SHA-256 "
        "and the original's); false: copy rejects unchanged (except too-large ones)",
    )
    max_message_bytes: int = Field(
        16 * 1_048_576, ge=256, le=256 * 1_048_576,
        description="largest accepted input message, bytes (a message may carry several events: a JSON array or "
        "NDJSON; an OTLP export request; a LiteLLM batch)",
    )
    max_message_events: int = Field(
        10_000, ge=1, le=1_000_000,
        description="most events accepted in one input message (JSON array or NDJSON; LiteLLM payloads)",
    )
    consumer_fetch_wait_ms: int = Field(
        100, ge=1, le=10_000,
        description="longest a fetch waits at the broker for new data, ms (Faust's own is 1,500): the floor of "
        "the event-to-alert latency on brokers that hold a fetch until the wait ends",
    )
    account_idle_seconds: float = Field(
        7 * 86400.0, ge=0,
        description="forget an account's state after this much event time without a request (an open episode is "
        "resolved first); 0 keeps every account forever",
    )
    expiry_sweep_seconds: float = Field(
        300.0, gt=0, le=86400, description="how often (wall clock) the worker looks for idle accounts to forget"
    )
    rules_file: Path | None = Field(None, description="YAML rules file; the packaged detectors/rules.yaml when unset")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")

    # --- rate-limit actions and webhooks (streams/actions.py) ---
    actions_enabled: bool = Field(
        True, description="compute rate-limit actions from alerts and publish them to the actions topic and webhooks"
    )
    actions_topic: str = Field(
        "rate-limit-actions",
        description="compacted topic of rate-limit actions (JSON, key = account_id; circuit breaker state under "
        "the key __circuit_breaker__)",
    )
    actions_shadow: bool = Field(
        True, description="shadow mode: actions are computed and published with enforced=false (false: enforce)"
    )
    actions_file: Path | None = Field(
        None, description="YAML action ladder (severity/score -> throttle/block, TTLs); packaged "
        "detectors/actions.yaml when unset"
    )
    actions_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="account ids never actioned (comma-separated or a YAML/JSON list)"
    )
    actions_allowlist_file: Path | None = Field(
        None, description="file of account ids never actioned, one per line ('#' starts a comment)"
    )
    actions_breaker_share: float = Field(
        0.05, gt=0, le=1,
        description="circuit breaker trips when more than this share of active accounts would be actioned "
        "within the window",
    )
    actions_breaker_close_share: float = Field(
        0.025, ge=0, lt=1, description="circuit breaker closes again when the share falls to this (hysteresis)"
    )
    actions_breaker_window_seconds: float = Field(
        600.0, gt=0, le=86400, description="circuit breaker window, seconds of event time"
    )
    actions_breaker_min_active: int = Field(
        200, ge=1, description="circuit breaker cannot trip with fewer active accounts than this in the window"
    )
    actions_max_lag_seconds: float = Field(
        300.0, gt=0,
        description="fail open: no new throttles or blocks while an alert's event time is further behind (or "
        "ahead of) the wall clock than this, seconds",
    )
    actions_warmup_guard: bool = Field(
        True, description="fail open: no new throttles or blocks while a loaded partition's anomaly model is "
        "still warming up"
    )
    webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="URLs that receive each action as a signed Standard Webhooks POST (comma-separated or a "
        "YAML/JSON list); needs a webhook secret",
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks signing secret 'whsec_<base64>' (never printed)"
    )
    webhook_secret_file: Path | None = Field(
        None, description="file holding the webhook signing secret (instead of DISTILLWATCH_WEBHOOK_SECRET)"
    )
    webhook_max_attempts: int = Field(6, ge=1, le=20, description="delivery attempts per webhook before giving up")
    webhook_timeout_seconds: float = Field(5.0, gt=0, le=120, description="timeout of one webhook attempt, seconds")
    webhook_queue_size: int = Field(
        1000, ge=1, description="deliveries waiting at most; when full a delivery is dropped and counted as failed"
    )

    # --- Alertmanager, explain view, admin auth (streams/alerting.py, streams/explain.py) ---
    alertmanager_url: str | None = Field(
        None,
        description="Alertmanager base URL, e.g. http://alertmanager:9093: open episodes are pushed to its API v2 "
        "(POST /api/v2/alerts). Unset: no push",
    )
    alertmanager_resend_seconds: float = Field(
        60.0, gt=0, le=3600,
        description="how often every open episode is re-sent to Alertmanager; keep it well below Alertmanager's "
        "resolve_timeout (default 5m) or alerts resolve there while the episode is still open",
    )
    public_url: str | None = Field(
        None,
        description="base URL on-call use to reach this worker's HTTP endpoint, for the explain links in "
        "Alertmanager alerts; unset: http://WEB_HOST:WEB_PORT",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="bearer token for the admin endpoints (/explain, /labels); a secret, never printed. "
        "Unset (and no ADMIN_TOKEN_FILE): those endpoints answer 403",
    )
    admin_token_file: Path | None = Field(
        None, description="file holding the admin bearer token (instead of ADMIN_TOKEN; surrounding whitespace ignored)"
    )

    # --- input formats (detectors/adapters) ---
    input_format: Literal["v1", "otlp_json", "litellm"] = Field(
        "v1",
        description="format of the input topic (and its re-key topic): v1 (the contract), otlp_json "
        "(OpenTelemetry GenAI spans from the Collector's Kafka exporter) or litellm (LiteLLM "
        "StandardLoggingPayload, NDJSON); see docs/adapters.md",
    )
    otlp_account_attribute: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["enduser.id", "user.id"],
        min_length=1,
        description="otlp_json: span or resource attribute(s) holding the account id, tried in order, span "
        "before resource (comma-separated)",
    )
    litellm_account_field: Annotated[list[LiteLLMAccountField], NoDecode] = Field(
        default_factory=lambda: ["team_id", "key_hash"],
        min_length=1,
        description="litellm: payload field(s) holding the account id, tried in order: team_id, org_id, "
        "key_hash, user_id (metadata.user_api_key_*) or end_user (comma-separated)",
    )

    # --- Kafka TLS and SASL (streams/kafka_security.py) ---
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how every Kafka client of the process connects: PLAINTEXT, SSL, SASL_PLAINTEXT "
        "or SASL_SSL"
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="SSL/SASL_SSL: PEM file of the CA certificates to trust (unset: the system's)"
    )
    kafka_ssl_certfile: Path | None = Field(None, description="SSL: client certificate (PEM) for mutual TLS")
    kafka_ssl_keyfile: Path | None = Field(None, description="SSL: private key (PEM) of the client certificate")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="password of the client private key, if it is encrypted (never printed)"
    )
    kafka_ssl_key_password_file: Path | None = Field(
        None, description="file holding the client private key password (instead of KAFKA_SSL_KEY_PASSWORD)"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL_PLAINTEXT/SASL_SSL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (never printed)")
    kafka_sasl_password_file: Path | None = Field(
        None, description="file holding the SASL password (instead of KAFKA_SASL_PASSWORD)"
    )

    # --- operations: metrics (streams/metrics.py) ---

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("actions_allowlist", "webhook_urls", "otlp_account_attribute", "litellm_account_field",
                     mode="before")
    @classmethod
    def _string_list(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        if v.strip().startswith("["):
            return yaml.safe_load(v)  # a JSON or YAML flow list
        return [item.strip() for item in v.split(",") if item.strip()]

    @field_validator("webhook_urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not re.match(r"^https?://[^\s/]+", url):
                raise ValueError(f"'{url}' is not an http(s) URL")
        return v

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            _check_webhook_secret(v.get_secret_value())  # the message never holds the secret
        return v

    @field_validator("broker")
    @classmethod
    def _broker(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        hosts = [h.strip().removeprefix("kafka://") for h in v.replace(";", ",").split(",")]
        for h in hosts:
            if not _HOSTPORT_RE.match(h):
                raise ValueError(f"'{h}' is not host:port")
            port = int(h.rsplit(":", 1)[1])
            if not 0 < port < 65536:
                raise ValueError(f"port {port} out of range in '{h}'")
        return ",".join(hosts)

    @field_validator(*TOPIC_FIELDS)
    @classmethod
    def _topic(cls, v: str) -> str:
        if not _TOPIC_RE.match(v) or v in (".", ".."):
            raise ValueError(f"'{v}' is not a legal Kafka topic name (letters, digits, '.', '_', '-'; 1-249)")
        return v

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, v: str) -> str:
        if not _TOPIC_RE.match(v):
            raise ValueError(f"'{v}' must be usable in topic names (letters, digits, '.', '_', '-')")
        return v

    @field_validator("store")
    @classmethod
    def _store(cls, v: str) -> str:
        if v not in ("memory://", "rocksdb://"):
            raise ValueError(f"'{v}' is not a supported store (memory:// or rocksdb://)")
        if v == "rocksdb://":
            import importlib.util

            if importlib.util.find_spec("rocksdict") is None:
                raise ValueError("rocksdb:// needs the rocksdict package: pip install 'distillwatch[rocksdb]'")
        return v

    @field_validator("rules_file")
    @classmethod
    def _rules_file(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"rules file '{v}' does not exist")
        return v

    @field_validator("actions_file", "actions_allowlist_file", "webhook_secret_file", "admin_token_file",
                     "kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile", "kafka_ssl_key_password_file",
                     "kafka_sasl_password_file")
    @classmethod
    def _existing_file(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"file '{v}' does not exist")
        return v

    @model_validator(mode="after")
    def _webhooks(self) -> Settings:
        if self.webhook_secret is not None and self.webhook_secret_file is not None:
            raise ValueError(
                f"{ENV_PREFIX}WEBHOOK_SECRET and {ENV_PREFIX}WEBHOOK_SECRET_FILE are both set; set one"
            )
        if self.webhook_secret_file is not None:
            _check_webhook_secret(self.webhook_secret_file.read_text("utf-8").strip())
        if self.webhook_urls and self.webhook_signing_secret is None:
            raise ValueError(
                f"{ENV_PREFIX}WEBHOOK_URLS needs {ENV_PREFIX}WEBHOOK_SECRET or {ENV_PREFIX}WEBHOOK_SECRET_FILE"
            )
        if self.actions_breaker_close_share >= self.actions_breaker_share:
            raise ValueError(
                f"{ENV_PREFIX}ACTIONS_BREAKER_CLOSE_SHARE must be below {ENV_PREFIX}ACTIONS_BREAKER_SHARE"
            )
        return self

    @property
    def webhook_signing_secret(self) -> str | None:
        """The webhook secret from the setting or its file (read when asked, never logged)."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        if self.webhook_secret_file is not None:
            return self.webhook_secret_file.read_text("utf-8").strip()
        return None

    @property
    def allowlisted_accounts(self) -> frozenset[str]:
        """``actions_allowlist`` plus the accounts in ``actions_allowlist_file``."""
        ids = set(self.actions_allowlist)
        if self.actions_allowlist_file is not None:
            for line in self.actions_allowlist_file.read_text("utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    ids.add(line)
        return frozenset(ids)

    @field_validator("alertmanager_url", "public_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"'{v}' is not an http:// or https:// URL")
        return v

    @model_validator(mode="after")
    def _one_token_source(self) -> Settings:
        if self.admin_token is not None and self.admin_token_file is not None:
            raise ValueError(f"set only one of {ENV_PREFIX}ADMIN_TOKEN and {ENV_PREFIX}ADMIN_TOKEN_FILE")
        return self

    def admin_secret(self) -> str | None:
        """The admin bearer token from ADMIN_TOKEN or ADMIN_TOKEN_FILE (read now, so a rotated file is seen
        at the next start); None when neither is set: admin endpoints are then closed."""
        if self.admin_token is not None:
            token = self.admin_token.get_secret_value().strip()
        elif self.admin_token_file is not None:
            try:
                token = self.admin_token_file.read_text("utf-8").strip()
            except OSError as exc:
                raise SettingsError(f"cannot read {ENV_PREFIX}ADMIN_TOKEN_FILE: {exc.strerror}") from None
        else:
            return None
        if not token:
            raise SettingsError(f"the admin token ({ENV_PREFIX}ADMIN_TOKEN or _FILE) is empty")
        return token

    @property
    def base_url(self) -> str:
        """Where on-call reach this worker's HTTP endpoint (links in alerts, the CLI's default)."""
        return self.public_url or f"http://{self.web_host}:{self.web_port}"

    @model_validator(mode="after")
    def _distinct_topics(self) -> Settings:
        seen: dict[str, str] = {}
        for name in TOPIC_FIELDS:
            topic = getattr(self, name)
            if topic in seen:
                raise ValueError(
                    f"{ENV_PREFIX}{seen[topic].upper()} and {ENV_PREFIX}{name.upper()} are both '{topic}'; "
                    "every topic setting must name a different topic"
                )
            seen[topic] = name
        return self

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        for name in ("kafka_ssl_key_password", "kafka_sasl_password"):
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None:
                raise ValueError(f"set only one of {ENV_PREFIX}{name.upper()} and {ENV_PREFIX}{name.upper()}_FILE")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError(f"{ENV_PREFIX}KAFKA_SSL_CERTFILE and {ENV_PREFIX}KAFKA_SSL_KEYFILE go together")
        if self.kafka_security_protocol.startswith("SASL_") and (
            not self.kafka_sasl_username or (self.kafka_sasl_password is None and self.kafka_sasl_password_file is None)
        ):
            raise ValueError(
                f"{ENV_PREFIX}KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                f"{ENV_PREFIX}KAFKA_SASL_USERNAME and {ENV_PREFIX}KAFKA_SASL_PASSWORD (or _FILE)"
            )
        return self

    def input_decoder(self) -> Callable[[bytes], Decoded]:
        """The per-message decode function of ``input_format`` (:func:`detectors.adapters.decoder`), the
        one the worker and replay both use."""
        from detectors.adapters import decoder

        return decoder(
            self.input_format,
            max_event_bytes=self.max_event_bytes,
            max_message_bytes=self.max_message_bytes,
            max_message_events=self.max_message_events,
            otlp_account_attributes=tuple(self.otlp_account_attribute),
            litellm_account_fields=tuple(self.litellm_account_field),
        )

    @property
    def faust_broker(self) -> str:
        """Faust's broker URL. ``kafka://`` names Faust's aiokafka transport whatever the security
        protocol (Faust has no ``ssl://`` transport): TLS and SASL come from ``broker_credentials``
        (:func:`streams.kafka_security.faust_credentials`)."""
        if not self.broker:
            raise SettingsError(f"no broker configured: set {ENV_PREFIX}BROKER")
        return ";".join(f"kafka://{h}" for h in self.broker.split(","))

    def with_overrides(self, **kw: Any) -> Settings:
        """A validated copy with some fields replaced."""
        try:
            return type(self)(**{**self.model_dump(), **kw})
        except ValidationError as exc:
            raise SettingsError(_explain(exc, {})) from None


def _check_webhook_secret(secret: str) -> None:
    from .webhooks import decode_secret

    decode_secret(secret)


def _explain(exc: ValidationError, file_keys: dict[str, str], env_keys: frozenset[str] = frozenset()) -> str:
    """One line per problem, naming where the value came from."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            lines.append(f"'{loc}' in {file_keys.get(loc, 'the config file')}: unknown setting")
            continue
        if not loc:  # a rule across fields: the message names the variables itself
            lines.append(msg)
            continue
        if loc in file_keys and loc not in env_keys:
            name = f"'{loc}' in {file_keys[loc]}"
        else:
            name = f"{ENV_PREFIX}{loc.upper()}"
        value = err.get("input")
        shown = f" (got {value!r})" if value is not None and not isinstance(value, dict) else ""
        if loc in SECRET_FIELDS:
            shown = ""  # never echo a secret
        lines.append(f"{name}: {msg}{shown}")
    if len(lines) == 1:  # a single problem: one line, so the CLI prints one clear line
        return f"invalid settings: {lines[0]}"
    return "invalid settings:\n" + "\n".join(f"  {line}" for line in lines)


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise SettingsError(f"config file {path} must end in .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"config file {path} does not parse: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path} must hold a mapping of setting names to values")
    return {str(k).lower().replace("-", "_"): v for k, v in data.items()}


#: Environment variables of the DISTILLWATCH_ prefix that are not settings: the config file's path, and the
#: switch that runs the compiled detection modules interpreted (read by ``detectors`` at import).
NOT_SETTINGS = frozenset({f"{ENV_PREFIX}CONFIG", PURE_PYTHON_ENV})


def load_settings(config_file: str | os.PathLike | None = None, **overrides: Any) -> Settings:
    """Build the settings from the environment, an optional config file and overrides.

    Precedence, highest first: ``overrides`` (command-line flags), environment
    variables, the config file (``config_file`` or ``DISTILLWATCH_CONFIG``),
    defaults.
    """
    path = config_file or os.environ.get(f"{ENV_PREFIX}CONFIG")
    file_values: dict[str, Any] = {}
    if path:
        file_values = _read_config_file(Path(path))
    env_keys = {
        k[len(ENV_PREFIX) :].lower() for k in os.environ if k.startswith(ENV_PREFIX) and k not in NOT_SETTINGS
    }
    unknown_env = sorted(k for k in env_keys if k not in Settings.model_fields)
    if unknown_env:
        names = ", ".join(f"{ENV_PREFIX}{k.upper()}" for k in unknown_env)
        raise SettingsError(f"unknown environment setting(s): {names}; run 'distillwatch settings' for the list")
    # File values go in as init kwargs only where no environment variable overrides them.
    init = {k: v for k, v in file_values.items() if k not in env_keys}
    init.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**init)
    except ValidationError as exc:
        raise SettingsError(_explain(exc, {k: str(path) for k in file_values}, frozenset(env_keys))) from None
