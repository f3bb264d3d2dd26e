"""Kafka TLS and SASL settings, turned into what each client library takes.

Every Kafka client the project creates gets its security from here, so a
cluster that needs TLS or SASL (Confluent Cloud, Amazon MSK, a self-run Kafka)
is configured once, with the ``DISTILLWATCH_KAFKA_*`` settings:

- :func:`kafka_client_kwargs` for kafka-python (``KafkaAdminClient``,
  ``KafkaProducer``, ``KafkaConsumer``: topic creation, ``label``,
  ``release``, ``simulate --kafka``, the demo's alert view);
- :func:`faust_credentials` for the Faust worker (aiokafka), passed as
  ``broker_credentials``.

Both use the same :class:`ssl.SSLContext` recipe (:func:`ssl_context`):
certificate and host name verified, the system's CAs unless a CA file is
given, a client certificate for mutual TLS when one is set. Secrets are read
here, when a client is built, and never logged.
"""

from __future__ import annotations

import ssl
from typing import Any

import faust

from .settings import Settings

__all__ = ["kafka_client_kwargs", "faust_credentials", "ssl_context"]


def _secret(settings: Settings, name: str) -> str | None:
    """A secret from its setting or its ``_file`` setting (surrounding whitespace ignored)."""
    value = getattr(settings, name)
    if value is not None:
        return value.get_secret_value()
    path = getattr(settings, f"{name}_file")
    return path.read_text("utf-8").strip() if path is not None else None


def uses_tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol.startswith("SASL_")


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (None for plaintext protocols)."""
    if not uses_tls(settings):
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    if settings.kafka_ssl_certfile is not None:
        ctx.load_cert_chain(
            str(settings.kafka_ssl_certfile),
            str(settings.kafka_ssl_keyfile),
            password=_secret(settings, "kafka_ssl_key_password"),
        )
    return ctx


def kafka_client_kwargs(settings: Settings) -> dict[str, Any]:
    """Security keyword arguments for any kafka-python client (bootstrap servers not included)."""
    kw: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    ctx = ssl_context(settings)
    if ctx is not None:
        kw["ssl_context"] = ctx  # kafka-python then ignores its own ssl_* file options
    if uses_sasl(settings):
        kw["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kw["sasl_plain_username"] = settings.kafka_sasl_username
        kw["sasl_plain_password"] = _secret(settings, "kafka_sasl_password")
    return kw


def faust_credentials(settings: Settings) -> faust.auth.Credentials | None:
    """Faust ``broker_credentials``: None (plaintext), SSL or SASL (over TLS for SASL_SSL)."""
    ctx = ssl_context(settings)
    if uses_sasl(settings):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=_secret(settings, "kafka_sasl_password"),
            ssl_context=ctx,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if ctx is not None:
        return faust.SSLCredentials(ctx)
    return None
