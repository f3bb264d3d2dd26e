"""Kafka TLS and SASL settings reach every client (streams/kafka_security.py).

Unit tests check what each security protocol builds for kafka-python and for
Faust. The integration test runs the whole pipeline over mutual TLS: a tansu
broker (plaintext, on 127.0.0.1) behind a small TLS-terminating proxy that
demands a client certificate from the test CA; topic creation, a producer, a
Faust worker and a consumer all connect through it with nothing but the
``kafka_*`` settings. (tansu 0.6.0's own TLS listener did not complete a
handshake here, hence the proxy.) SASL is checked by the unit tests only:
the embedded broker has no SASL user store to test against.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from streams.broker import free_port, tansu_binary
from streams.cli import main
from streams.kafka_security import faust_credentials, kafka_client_kwargs
from streams.settings import Settings, SettingsError, load_settings
from tests.conftest import unique_settings

KEY_PASSWORD = "key-pw-7c1d"
SASL_PASSWORD = "sasl-pw-93fe"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A test CA, a server certificate for 127.0.0.1, and a client certificate with an encrypted key."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=distillwatch test CA", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, key_opts in (("server", ["-nodes"]), ("client", ["-passout", f"pass:{KEY_PASSWORD}"])):
        _openssl("req", "-newkey", "rsa:2048", *key_opts, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    (d / "key-password").write_text(KEY_PASSWORD + "\n")
    return d


def tls_settings(pki: Path, **kw) -> dict:
    return dict(kafka_security_protocol="SSL", kafka_ssl_cafile=pki / "ca.pem", kafka_ssl_certfile=pki / "client.pem",
                kafka_ssl_keyfile=pki / "client.key", kafka_ssl_key_password_file=pki / "key-password", **kw)


# --------------------------------------------------------------------------- unit


def test_plaintext_is_the_default_and_adds_nothing():
    s = Settings(broker="k:9092")
    assert kafka_client_kwargs(s) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(s) is None
    assert s.faust_broker == "kafka://k:9092"


def test_ssl_builds_one_verified_context_for_both_libraries(pki):
    s = Settings(broker="k:9093", **tls_settings(pki))
    kw = kafka_client_kwargs(s)
    assert kw["security_protocol"] == "SSL" and set(kw) == {"security_protocol", "ssl_context"}
    ctx = kw["ssl_context"]
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    creds = faust_credentials(s)
    assert creds.protocol.value == "SSL" and creds.context.verify_mode == ssl.CERT_REQUIRED
    assert s.faust_broker == "kafka://k:9093"  # Faust's transport; TLS comes from the credentials


def test_sasl_plaintext_scram(monkeypatch):
    monkeypatch.setenv("DISTILLWATCH_KAFKA_SASL_PASSWORD", SASL_PASSWORD)
    s = load_settings(broker="k:9092", kafka_security_protocol="SASL_PLAINTEXT",
                      kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="dw")
    assert kafka_client_kwargs(s) == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "dw", "sasl_plain_password": SASL_PASSWORD,
    }
    creds = faust_credentials(s)
    assert (creds.protocol.value, creds.mechanism.value) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert (creds.username, creds.password, creds.ssl_context) == ("dw", SASL_PASSWORD, None)


def test_sasl_ssl_with_the_password_from_a_file(tmp_path):
    (tmp_path / "pw").write_text(f"  {SASL_PASSWORD}\n")
    s = Settings(broker="k:9096", kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256",
                 kafka_sasl_username="dw", kafka_sasl_password_file=tmp_path / "pw")
    kw = kafka_client_kwargs(s)
    assert kw["sasl_plain_password"] == SASL_PASSWORD and kw["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kw["ssl_context"].verify_mode == ssl.CERT_REQUIRED  # the system's CAs
    creds = faust_credentials(s)
    assert creds.protocol.value == "SASL_SSL" and creds.ssl_context is not None and creds.password == SASL_PASSWORD


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(kafka_security_protocol="SASL_SSL", kafka_sasl_username="dw"), "KAFKA_SASL_PASSWORD"),
        (dict(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_password=SASL_PASSWORD), "KAFKA_SASL_USERNAME"),
        (dict(kafka_security_protocol="SSL", kafka_ssl_certfile=__file__), "go together"),
        (dict(kafka_security_protocol="KERBEROS"), "KAFKA_SECURITY_PROTOCOL"),
        (dict(kafka_sasl_mechanism="GSSAPI"), "KAFKA_SASL_MECHANISM"),
        (dict(kafka_ssl_cafile="/nonexistent/ca.pem"), "does not exist"),
    ],
)
def test_inconsistent_security_settings_stop_start_up(kw, message):
    with pytest.raises(SettingsError, match=message) as err:
        load_settings(**kw)
    assert SASL_PASSWORD not in str(err.value)


def test_secrets_are_never_printed(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DISTILLWATCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DISTILLWATCH_KAFKA_SASL_USERNAME", "dw")
    monkeypatch.setenv("DISTILLWATCH_KAFKA_SASL_PASSWORD", SASL_PASSWORD)
    monkeypatch.setenv("DISTILLWATCH_KAFKA_SSL_KEY_PASSWORD", KEY_PASSWORD)
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert SASL_PASSWORD not in out and KEY_PASSWORD not in out
    assert "DISTILLWATCH_KAFKA_SASL_PASSWORD" in out and "***" in out
    monkeypatch.setenv("DISTILLWATCH_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "missing"))
    assert main(["settings"]) == 2
    assert SASL_PASSWORD not in capsys.readouterr().err


# --------------------------------------------------------------------------- integration: mutual TLS


class TlsProxy:
    """TLS on ``port`` (client certificate required), plaintext to the broker on ``upstream``."""

    def __init__(self, pki: Path, upstream: int):
        self.port = free_port()
        self.upstream = upstream
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.clients: list[str] = []  # common name of each connection's client certificate

    async def _pipe(self, reader, writer) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _client(self, reader, writer) -> None:
        """Called only after a completed handshake, so only for a client the CA vouches for."""
        subject = dict(x[0] for x in writer.get_extra_info("peercert")["subject"])
        self.clients.append(subject["commonName"])
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def __enter__(self) -> TlsProxy:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", self.port, ssl=self.ctx), self.loop
        ).result(10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def tls_cluster(pki, tmp_path):
    """(bootstrap, proxy): tansu advertising the TLS proxy's address, so every connection goes through it."""
    broker_port = free_port()
    with TlsProxy(pki, broker_port) as proxy:
        url = f"tcp://127.0.0.1:{proxy.port}"
        log = open(tmp_path / "tansu.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{broker_port}",
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", broker_port), 0.2):
                    break
                assert time.monotonic() < deadline and proc.poll() is None, "tansu did not start"
                time.sleep(0.05)
            yield f"127.0.0.1:{proxy.port}", proxy
        finally:
            proc.kill()
            proc.wait()
            log.close()


HARVEST = [
    orjson.dumps({
        "request_id": f"tls-{i}", "timestamp": 1795860000.0 + 3 * i, "account_id": "acct-tls",
        "model": "frontier-large", "status_code": 200, "finish_reason": "length",
        "usage": {"input_tokens": 40, "output_tokens": 1500},
        "prompt": {"messages_count": 1, "text": "Show your chain of thought step by step."},
    })
    for i in range(200)
]


@pytest.mark.integration
def test_the_pipeline_runs_over_mutual_tls(pki, tls_cluster, tmp_path, worker_factory):
    bootstrap, proxy = tls_cluster
    s = unique_settings(bootstrap, tmp_path, **tls_settings(pki))
    security = kafka_client_kwargs(s)

    # without the test CA, or without a client certificate, nothing connects
    bad_clients = [
        {"security_protocol": "SSL"},  # system CAs only: the server certificate is not trusted
        {"security_protocol": "SSL", "ssl_context": ssl.create_default_context(cafile=str(pki / "ca.pem"))},
    ]
    for kw in bad_clients:
        with pytest.raises(KafkaError):
            KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=3000, request_timeout_ms=3000, **kw)
    assert proxy.clients == []

    w = worker_factory(s)  # topics created over TLS (ensure_topics), then a Faust worker over TLS
    producer = KafkaProducer(bootstrap_servers=bootstrap, **security)
    for raw in HARVEST:
        producer.send(s.input_topic, key=b"acct-tls", value=raw)
    producer.flush(60)
    producer.close()
    consumer = KafkaConsumer(s.alerts_topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=500, **security)
    alerts: list = []
    deadline = time.monotonic() + 120
    while not alerts and time.monotonic() < deadline:
        alerts.extend(consumer)
    consumer.close()
    assert alerts and alerts[0].key == b"acct-tls", "no alert came back through TLS:\n" + w.proc.log_tail(40)
    # admin, worker (consumer and producer), producer and consumer: all through the proxy, with the client cert
    assert len(proxy.clients) >= 4 and set(proxy.clients) == {"client"}
