"""Create the app's topics and check that existing ones fit.

Faust creates its own changelog topics; the input, re-key, dead-letter,
alert and (compacted) rate-limit action topics are created here (kafka-python
admin) before the worker starts.
The input and re-key topics must have exactly ``settings.partitions``
partitions: the per-account table is co-partitioned with them, so an existing
topic with another count stops start-up with a clear message rather than
silently scattering an account's state.
"""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from .kafka_security import kafka_client_kwargs
from .settings import TOPIC_FIELDS, Settings, SettingsError

__all__ = ["ensure_topics", "TopicError"]

log = logging.getLogger(__name__)


class TopicError(SettingsError):
    """An existing topic does not fit the settings."""


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create missing topics; raise :class:`TopicError` when an existing
    co-partitioned topic has the wrong partition count."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.broker,
        client_id=f"{settings.app_id}-admin",
        request_timeout_ms=int(timeout_s * 1000),
        **kafka_client_kwargs(settings),
    )
    try:
        # every topic the agents read is co-partitioned with the tables
        copartitioned = (settings.input_topic, settings.rekey_topic, settings.evidence_topic,
                         settings.fingerprints_topic, settings.labels_topic)
        wanted = {getattr(settings, name): settings.partitions for name in TOPIC_FIELDS}
        existing = _partition_counts(admin, list(wanted))
        for name in copartitioned:
            have = existing.get(name)
            if have is not None and have != settings.partitions:
                raise TopicError(
                    f"topic '{name}' has {have} partitions but DISTILLWATCH_PARTITIONS is "
                    f"{settings.partitions}; they must match (the account table is co-partitioned "
                    f"with it). Set DISTILLWATCH_PARTITIONS={have}."
                )
        configs = {settings.actions_topic: {"cleanup.policy": "compact"}}  # latest action per account
        missing = [
            NewTopic(name, count, settings.replication_factor, topic_configs=configs.get(name, {}))
            for name, count in wanted.items()
            if name not in existing
        ]
        if missing:
            try:
                admin.create_topics(missing, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                pass  # created concurrently by another worker
            log.info("created topics %s", ", ".join(t.name for t in missing))
    except KafkaError as exc:
        raise TopicError(f"cannot create or inspect topics on {settings.broker}: {exc}") from exc
    finally:
        admin.close()


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    present = set(admin.list_topics())
    found = [n for n in names if n in present]
    if not found:
        return {}
    counts = {}
    for desc in admin.describe_topics(found):
        counts[desc.get("name") or desc.get("topic")] = len(desc["partitions"])  # key name differs by version
    return counts
