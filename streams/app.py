"""The Faust application: input topic → decode → per-account state → alerts.

::

    api-requests ──────────┐  (all keyed by account_id, co-partitioned with the tables)
    api-requests-rekeyed ──┤
    distillwatch-evidence ─┤
    analyst-labels ────────┴─► detect agent
        │ a message holds one event, a JSON array of events or NDJSON (detectors.contract.decode_message)
        │ invalid ─────────────────────► api-requests-dlq (the event's bytes, reason in headers)
        │ account's partition ≠ this one ► api-requests-rekeyed (to that partition; a batch stays a batch)
        │ Detector.process(state, event, ctx) — the code replay runs
        ├─► account-state table, partition-context table (changelog-backed, versioned bytes)
        ├─► abuse-alerts (JSON, key = account_id)
        ├─► alert-history table (explain view), alertmanager-open table ─► Alertmanager (streams/alerting.py)
        ├─► rate-limit decisions (streams/actions.py) ─► rate-limit-actions (compacted), webhooks;
        │   action-history table (explain view)
        └─► distillwatch-fingerprints (partitioned by fingerprint; JSON arrays, gathered over messages)
                 └─► coordinate agent (fingerprint-index table) ─► distillwatch-evidence (by account; arrays)

The agent is thin: it decodes, calls :class:`detectors.engine.Detector`, and
emits; all detection logic lives in ``detectors/``. The web server has
``/metrics`` and ``/healthz`` (open) and the admin views of
:mod:`streams.explain` (bearer token). The table is keyed by the
account id and co-partitioned with the input: an event is processed where it
arrives when that is its account's partition (Kafka's default murmur2
partitioner, keyed by account id), else it is routed through the re-key topic
to that partition first — keyless, mis-keyed and batched input alike.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from dataclasses import dataclass

import faust
import orjson
from faust import streams as _faust_streams
from faust.exceptions import ProducerSendError
from faust.transport import consumer as _faust_consumer
from faust.transport.drivers import aiokafka as _faust_aiokafka
from faust.transport.producer import ProducerBuffer as _FaustProducerBuffer

from detectors.adapters import joiner, redactor
from detectors.contract import InvalidEvent, record_bytes
from detectors.coordination import Evidence, Fingerprint, FingerprintIndex
from detectors.engine import Detector, PartitionContext, partition_for
from detectors.labels import decode_label
from detectors.rules import Rules

from .actions import Actions
from .alerting import Alertmanager
from .bunching import bunches
from .dlq import dead_letter
from .eager import start as eager_start
from .explain import ACTION_HISTORY_TABLE, HISTORY_TABLE, ActionHistory, AlertHistory, install_views
from .kafka_security import faust_credentials
from .metrics import ClusterTracker, Metrics
from .settings import Settings
from .states import AccountStates, in_partition

__all__ = ["build_app", "Components", "DLQ_REASON_HEADER", "DLQ_FIELD_HEADER", "DLQ_CODE_HEADER", "DLQ_INDEX_HEADER"]

log = logging.getLogger(__name__)

DLQ_REASON_HEADER = "distillwatch-error"
DLQ_FIELD_HEADER = "distillwatch-error-field"
DLQ_CODE_HEADER = "distillwatch-error-code"
#: Header of the control message (on the re-key topic, to the account's partition) that asks the agent
#: to forget an idle account: table writes must happen in the agent, in the account's partition.
EXPIRE_HEADER = "distillwatch-expire"
#: Header of cluster evidence sent back to its own topic because the account's state had not yet reached the
#: fingerprint it answers (``Evidence.ahead_of``: a state restored after a crash): the wall-clock time it was
#: first deferred. It is deferred for at most EVIDENCE_DEFER_SECONDS, then applied as it is.
DEFERRED_HEADER = "distillwatch-deferred-since"
EVIDENCE_DEFER_SECONDS = 120.0
DLQ_INDEX_HEADER = "distillwatch-batch-index"  # position of the event in a message that carried several
#: Record overhead allowed beyond ``max_event_bytes``: key (an account id), DLQ headers, batch framing.
DLQ_HEADROOM_BYTES = 16_384
TABLE_NAME = "account-state"
CONTEXT_TABLE = "partition-context"
FINGERPRINT_TABLE = "fingerprint-index"
#: The detect agent takes at most this many messages at a time (streams.bunching), waiting at most this
#: long for more while fewer have arrived (an event can wait that long before it is handled; 20 ms gave
#: 4-6 % more single events per second than 5 ms, 50 ms no more: docs/BENCHMARKS.md); a bunch of large
#: batches lets the event loop run every YIELD_SECONDS.
BUNCH_EVENTS = 1000
BUNCH_WAIT_SECONDS = 0.02
YIELD_SECONDS = 0.005
#: Events bound for another partition's account (a batch of mixed accounts) are gathered over the
#: messages of a bunch and sent as one re-key message per partition, once this many wait, this long after
#: the first, or at the end of the bunch (each re-key message is one more message for Faust to read).
REKEY_EVENTS = 2000
REKEY_WAIT_SECONDS = 0.05
#: Fingerprints are gathered over the detect agent's messages and sent as one record (a JSON array) per
#: partition of the fingerprint topic: after each bunch when the agent is at the head of its input (the last
#: message is younger than GATHER_WAIT_SECONDS by its Kafka timestamp), else once GATHER_RECORDS wait or by a
#: timer GATHER_WAIT_SECONDS after the first, and always before an offset commit or a revocation writes the
#: account states that record them. One record per fingerprint was a Kafka message each way through Faust
#: (and a cluster-evidence message back): on 100-event arrays that cost the worker a fifth of its rate.
#: Gathered for a second, also at the head of the input, they delayed the alerts that cluster evidence raises
#: by about that much (docs/BENCHMARKS.md, 2026-12-06 night).
GATHER_RECORDS = 500
GATHER_WAIT_SECONDS = 0.5


@dataclass
class Components:
    """What :func:`build_app` built, for the CLI and the tests."""

    app: faust.App
    detector: Detector
    metrics: Metrics
    table: faust.Table
    states: AccountStates


def _faust_settings(settings: Settings) -> dict:
    datadir = settings.datadir.resolve()
    datadir.mkdir(parents=True, exist_ok=True)  # Faust does not create parents
    return dict(
        broker=settings.faust_broker,
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        datadir=str(datadir / settings.app_id),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=max(0.5, settings.session_timeout / 4),
        producer_max_batch_size=settings.producer_max_batch_size,
        # the largest accepted event must fit through the re-key and DLQ sends (Faust's default is 1,000,000)
        producer_max_request_size=settings.max_event_bytes + DLQ_HEADROOM_BYTES,
        web_enabled=settings.web_enabled,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_tables_enabled=False,  # would serve table contents over HTTP
        consumer_auto_offset_reset="earliest",
    )


class _Outcome:
    """What the events of the input messages did: the alerts and fingerprints of the message being
    handled (sent once it is done), the events' times, accounts and duplicates since the metrics
    and the circuit breaker last heard of them (once per bunch of messages), and the events bound for
    other partitions that wait to be sent (:meth:`reroute`)."""

    __slots__ = ("duplicate", "times", "accounts", "emits", "rerouted", "rerouted_events", "since", "hold")

    def __init__(self) -> None:
        self.duplicate = 0
        self.times: list[float] = []  # event time of each valid event processed
        self.accounts: list[str] = []  # and its account
        self.emits: list[tuple[bytes, list[dict], list]] = []  # (account key, alerts, fingerprints)
        self.rerouted: dict[int, list[tuple[bytes, str]]] = {}  # partition -> (record, account id), to send
        self.rerouted_events = 0
        self.since = 0.0  # perf_counter when the first of them was added
        self.hold = False  # the message just handled added some: acknowledge it once they are sent

    def reroute(self, items: dict[int, list[tuple[bytes, str]]]) -> None:
        """A handled message's events bound for other partitions (by partition), sent with those of the next
        messages; the message must not be acknowledged before (:attr:`hold`)."""
        if not self.rerouted_events:
            self.since = time.perf_counter()
        for home, records in items.items():
            waiting = self.rerouted.get(home)
            if waiting is None:
                self.rerouted[home] = records
            else:
                waiting.extend(records)
            self.rerouted_events += len(records)
        self.hold = True


class _Gathered:
    """Records bound for a co-partitioned topic (fingerprints, cluster evidence), gathered by partition and
    sent as one JSON array per partition, split where a record would outgrow ``max_bytes`` or
    ``max_items``. :meth:`send` is synchronous: what it sends is in the producer's queue, in order,
    before the caller's next step."""

    __slots__ = ("topic", "max_bytes", "max_items", "waiting", "count", "since")

    def __init__(self, topic, max_bytes: int, max_items: int) -> None:
        self.topic = topic
        self.max_bytes = max_bytes
        self.max_items = max_items
        self.waiting: dict[int, list[bytes]] = {}  # partition -> JSON objects
        self.count = 0
        self.since = 0.0  # monotonic time of the first waiting record

    def add(self, partition: int, record: bytes) -> None:
        if not self.count:
            self.since = time.monotonic()
        items = self.waiting.get(partition)
        if items is None:
            self.waiting[partition] = [record]
        else:
            items.append(record)
        self.count += 1

    def send(self, headers=None) -> int:
        """Send what waits; returns how many records (JSON arrays) that made."""
        sent = 0
        waiting, self.waiting, self.count = self.waiting, {}, 0
        for partition, items in waiting.items():
            for chunk in _split(items, len, self.max_bytes, self.max_items):
                self.topic.send_soon(key=None, value=b"[" + b",".join(chunk) + b"]", partition=partition,
                                     headers=headers)
                sent += 1
        return sent


def _split(items: list, size_of, max_bytes: int, max_items: int):
    """``items`` in consecutive slices of at most ``max_items``, each within ``max_bytes`` as a JSON array
    (``size_of`` each item, a comma or bracket each, one bracket more; NDJSON and OTLP requests come out
    shorter); an item alone may be larger."""
    start, size = 0, 1
    for i, item in enumerate(items):
        n = size_of(item) + 1
        if i > start and (size + n > max_bytes or i - start >= max_items):
            yield items[start:i]
            start, size = i, 1
        size += n
    yield items[start:]


def _record_size(item: tuple[bytes, str]) -> int:
    return len(item[0])


def gathered_items(value: bytes | None) -> list:
    """The objects of a fingerprint or evidence record: a JSON array of them, or (as written before
    2026-12-06, and by hand) one object."""
    data = orjson.loads(value or b"null")
    return data if type(data) is list else [data]


class _Active:
    """The partitions a drain may take records from: Faust's live set of active partitions, never empty.

    aiokafka's ``fetched_records(partitions)`` drains *every* assigned partition when ``partitions`` is
    empty (``if partitions and tp not in partitions``). Faust passes its live set of active partitions,
    which can turn empty while the call waits for records: when recovery pauses the changelogs and the
    stream partitions are not resumed yet. Records drained then are dropped by Faust (their partition is
    not active) after aiokafka has moved past them; when that happens after the seek to the committed
    offsets, nothing ever reads them again, and the partition stalls at its committed offset.
    """

    __slots__ = ("tps",)

    def __init__(self, tps) -> None:
        self.tps = tps

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp) -> bool:
        return tp in self.tps


class _ConsumerThread(_faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        # Faust hard-codes a 1,500 ms fetch wait; aiokafka reads this when its fetcher starts. A broker
        # that does not answer a fetch as soon as data arrives (the embedded one) holds every event that
        # long, so it sets the floor of the event-to-alert latency.
        consumer._fetch_max_wait_ms = self.app.fetch_wait_ms
        return consumer

    async def _fetch_records(self, consumer, active_partitions, timeout=None, max_records=None):
        # only from partitions active when the records are taken (see _Active)
        if active_partitions is not None:  # None: a client-only app, which reads every partition
            active_partitions = _Active(active_partitions)
        return await super()._fetch_records(consumer, active_partitions, timeout=timeout, max_records=max_records)


class _Consumer(_faust_aiokafka.Consumer):
    """Faust's consumer with two repairs that the write-behind account states and the crash guarantees
    need (docs/guarantees.md); a third, in its thread, drains only active partitions (:class:`_Active`).

    - **Seek before resume.** After a rebalance Faust's recovery resumes the stream partitions and only
      then seeks them to their committed offsets (``faust/tables/recovery.py``; faust-streaming issue
      #596). Records fetched in between, from wherever aiokafka stood, are processed; the seek then
      makes Faust's ack bookkeeping count a run of offsets twice (a "gap" over records that are read
      again), and from then on each commit advances that partition by one offset. Here the stream
      partitions stay paused until the seek has run.
    - **Commit after the changelog.** Account states reach their table once per commit (first thing
      in :meth:`force_commit`); Faust flushes its producer before it commits, but its buffer's flush
      gives up after 0.1 s without a send, so on a slow link some of those changelog records could
      still be queued when the offsets go out. The commit waits until every record queued before it
      is acknowledged by the broker (:meth:`_Producer.delivered`).
    - **No commit past a message taken and not acknowledged.** Faust's ``_new_offset`` sees a gap
      before the first acknowledged offset only when it is two offsets or more, and none before a
      partition's first commit. The detect agent acknowledges in order, but when its loop fails
      outside a message Faust restarts it in the same process, and the messages of its unfinished
      bunch are never acknowledged: the restarted agent's acknowledgements would commit past a lone
      one. The agent records what it has taken (:attr:`taken`, partition -> offsets, until
      acknowledged), and a partition with an acknowledged offset beyond a taken one is not committed:
      it stays behind until the worker restarts and reads it again (its consumer lag shows it).

    It also hands each message to the conductor without a task per message when the delivery need not wait
    (:meth:`_drain_messages`, :mod:`streams.eager`).
    """

    _held: set | None = None  # stream partitions Faust resumed before seeking them (None: no seek pending)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.taken: dict = {}  # TP -> set of offsets taken by the detect agent and not acknowledged yet

    def _new_offset(self, tp):
        taken = self.taken.get(tp)
        acked = self._acked[tp]
        if taken and acked and min(taken) < min(acked):
            return None
        return super()._new_offset(tp)

    async def _drain_messages(self, fetcher) -> None:  # pragma: no cover - Faust's fetcher task runs it
        # Faust 0.15's Consumer._drain_messages (tests/test_eager.py pins its source), with two changes: the
        # delivery of a message to the conductor runs eagerly in this task (streams.eager), and only a delivery
        # that has to wait is raced against the flow's suspension with wait_first, as Faust races every one (a
        # suspended flow takes Faust's path unchanged); and the loop yields before each message, not every 100th.
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        suspended = self.suspend_flow.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = _faust_consumer.CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for

        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = getmany(timeout=1.0)

                # Sleeping because sometimes getmany is called in a loop
                # never releasing to the event loop
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        # Faust's wait_first gave the event loop several turns per message (and Faust yields
                        # once more every 100); an eager delivery gives it none, so it gets one here
                        await sleep(0)

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            # We have a gap in income messages
                            if gap > 1 and r_offset:
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None:
                                if self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                            if suspended():
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            else:
                                done, rest = eager_start(callback(message))
                                if not done:
                                    await self.wait_first(rest, self.suspend_flow.wait())
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
                    unset_flag(flag_consumer_fetching)

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                # we're already stopping so ignore
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)

    async def on_partitions_revoked(self, revoked) -> None:
        for tp in revoked:  # whoever gets the partition reads them from its committed offset
            self.taken.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_assigned(self, assigned, generation_id: int = 0) -> None:
        self._held = set()
        await super().on_partitions_assigned(assigned, generation_id)

    def resume_partitions(self, tps) -> None:
        if self._held is not None:
            tps = set(tps)
            stream = {tp for tp in tps if not self._is_changelog_tp(tp)}
            self._held |= stream
            tps -= stream
        super().resume_partitions(tps)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        held = self._held
        if held:  # the seek that follows recovery's resume (an earlier one, from getmany, keeps the hold)
            self._held = None
            assigned = self.assignment()
            super().resume_partitions({tp for tp in held if tp in assigned})

    async def force_commit(self, topics=None, start_new_transaction: bool = True) -> bool:
        # Account states are written behind (streams.states): to the table, so into the producer's queue,
        # before Faust picks the offsets to commit; _commit_offsets waits for them to be acknowledged.
        self.app.before_commit()
        return await super().force_commit(topics, start_new_transaction=start_new_transaction)

    async def _commit_offsets(self, offsets, start_new_transaction: bool = True) -> bool:
        await self.app.producer.delivered(timeout=self.app.conf.producer_request_timeout + 5.0)
        return await super()._commit_offsets(offsets, start_new_transaction=start_new_transaction)


class _ProducerBuffer(_FaustProducerBuffer):
    """Faust's send buffer, whose flow control is measured rather than logged as a warning.

    Before it hands a fetched message to the agent's stream, Faust's conductor waits while more than
    ``max_messages`` (100) records are queued here, until up to that many have been sent; the agent works on
    through the messages already in its stream (up to 4,096), so a wait holds it up only when those run out.
    The worker queues a burst at every offset commit (the account states changed since the last one go to
    the table's changelog), so in a catch-up this happens every few seconds: routine back-pressure, not a
    fault. Faust logs each one as a WARNING ("producer buffer full size N"), about ten in a 200,000-event
    catch-up, where on-call engineers look for faults; here each wait is timed into
    ``distillwatch_producer_buffer_wait_seconds`` and logged at DEBUG.
    """

    async def wait_until_ebb(self) -> None:
        size = self.size
        if size > self.max_messages:
            t0 = time.perf_counter()
            await self.flush_atmost(self.max_messages)
            waited = time.perf_counter() - t0
            log.debug("producer send buffer held %d records: waited %.3f s for it to drain", size, waited)
            self.app.producer_buffer_waited(waited)


class _Producer(_faust_aiokafka.Producer):
    """Faust's producer, keeping the records queued through its send buffer (table writes, alerts,
    fingerprints, re-keyed events) until the broker acknowledges them; its buffer is :class:`_ProducerBuffer`."""

    def __init__(self, transport, loop=None, **kwargs) -> None:
        super().__init__(transport, loop=loop, **kwargs)
        buffer = _ProducerBuffer(loop=self.loop, beacon=self.beacon)
        buffer.app = self.app
        if self.threaded_producer is not None:
            buffer.threaded_producer = self.threaded_producer
        self.buffer = buffer  # before the conductor takes its wait_until_ebb, and before on_start starts it

    def __post_init__(self) -> None:
        super().__post_init__()
        self._queued: list[asyncio.Future] = []
        self._prune_at = 4096

    def send_soon(self, fut) -> None:
        queued = self._queued
        if len(queued) >= self._prune_at:  # no commit for a while (an idle worker): keep only what is owed
            queued[:] = [f for f in queued if not f.done() or f.cancelled() or f.exception() is not None]
            self._prune_at = max(4096, 2 * len(queued))
        queued.append(fut)
        super().send_soon(fut)

    async def delivered(self, timeout: float | None = None) -> None:
        """Until every record queued so far is acknowledged; raises the first one's send error.

        A record not settled within ``timeout`` raises :class:`~faust.exceptions.ProducerSendError` and
        stays owed to the next call: aiokafka fails a send after the producer request timeout, so one
        still open then never will settle (Faust's ``Topic._on_published`` leaves the record's future
        open when the send itself was cancelled). A raise fails the commit, which crashes the worker
        before it can commit offsets past states the changelog may not have.
        """
        queued, self._queued = self._queued, []
        if not queued:
            return
        _, pending = await asyncio.wait(queued, timeout=timeout)
        if pending:
            self._queued[:0] = [f for f in queued if f in pending]
            raise ProducerSendError(f"{len(pending)} changelog records not acknowledged by the broker "
                                    f"in {timeout:.0f} s")
        for f in queued:
            if f.cancelled():
                raise ProducerSendError("a changelog record's send was cancelled")
            if f.exception() is not None:
                raise f.exception()


class _Transport(_faust_aiokafka.Transport):
    Consumer = _Consumer
    Producer = _Producer


class _App(faust.App):
    """Faust's app with the consumer's fetch wait taken from the settings."""

    fetch_wait_ms = 1500

    def before_commit(self) -> None:
        """Called by the consumer before every offset commit (set by :func:`build_app`)."""

    def producer_buffer_waited(self, seconds: float) -> None:
        """Called when Faust held a fetched message back ``seconds`` for the producer's send buffer to drain
        (set by :func:`build_app`)."""

    def _new_transport(self):
        return _Transport(self.conf.broker_consumer, self)


def build_app(settings: Settings, *, metrics: Metrics | None = None, detector: Detector | None = None) -> Components:
    """Build the Faust app from validated settings (nothing global)."""
    detector = detector or Detector(Rules.load(settings.rules_file))
    metrics = metrics or Metrics()
    app = _App(settings.app_id, **_faust_settings(settings))
    app.fetch_wait_ms = settings.consumer_fetch_wait_ms

    raw_kw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    raw = faust.Schema(**raw_kw)
    parts = settings.partitions
    source = app.topic(settings.input_topic, settings.rekey_topic, settings.evidence_topic, settings.labels_topic,
                       partitions=parts, **raw_kw)
    labels_topic = app.topic(settings.labels_topic, partitions=parts, **raw_kw)
    rekey = app.topic(settings.rekey_topic, partitions=parts, **raw_kw)
    evidence_topic = app.topic(settings.evidence_topic, partitions=parts, **raw_kw)
    fingerprints_topic = app.topic(settings.fingerprints_topic, partitions=parts, **raw_kw)
    dlq = app.topic(settings.dlq_topic, **raw_kw)
    alerts_topic = app.topic(settings.alerts_topic, **raw_kw)

    def raw_table(name: str) -> faust.Table:
        # key_type/value_type bytes make Faust's changelog serializer "raw" (the schema alone does not)
        return app.Table(name, default=None, partitions=parts, key_type=bytes, value_type=bytes, schema=raw)

    table = raw_table(TABLE_NAME)  # account id -> AccountState bytes (versioned, detectors.state)
    stage = metrics.stage
    # live states, written to the table once per offset commit
    states = AccountStates(detector, table, settings.input_topic, parts, settings.state_cache_accounts,
                           on_write=metrics.state_bytes.observe_later, on_flush=stage["state_write"].observe)
    contexts_table = raw_table(CONTEXT_TABLE)  # b"p<N>" -> PartitionContext bytes (models, baselines)
    fingerprint_table = raw_table(FINGERPRINT_TABLE)  # fingerprint -> FingerprintIndex bytes
    history = AlertHistory(raw_table(HISTORY_TABLE))  # account id -> its last alerts (explain view)
    action_history = ActionHistory(raw_table(ACTION_HISTORY_TABLE))  # account id -> its last action decisions
    alertmanager = Alertmanager.install(app, settings, metrics, raw_table)  # None when no URL is set
    contexts = ContextCache(detector, contexts_table, settings.context_checkpoint_seconds, settings.input_topic)

    # fingerprints (gathered over messages) and cluster evidence (over one fingerprint record), a JSON array per
    # partition; each such record stays within the producer's request size
    gathered_bytes = min(settings.max_event_bytes, settings.max_message_bytes)
    fp_out = _Gathered(fingerprints_topic, gathered_bytes, GATHER_RECORDS)
    evidence_out = _Gathered(evidence_topic, gathered_bytes, GATHER_RECORDS)

    def before_commit() -> None:
        fp_out.send()  # ahead of the account states that record them as published (see emit)
        states.flush()
        contexts.checkpoint()

    app.before_commit = before_commit
    app.producer_buffer_waited = metrics.producer_buffer_wait.observe
    actions = Actions(settings, app, metrics, contexts.loaded) if settings.actions_enabled else None
    decode_message = settings.input_decoder()
    join = joiner(settings.input_format)
    skipped = metrics.records_skipped.labels(settings.input_format)
    redact_prompt = settings.dlq_redact_prompt
    redact_content = redactor(settings.input_format)
    rekey_name = settings.rekey_topic
    evidence_name = settings.evidence_topic
    labels_name = settings.labels_topic
    min_events = detector.rules.min_events
    metrics.declare((sig.name for sig in detector.rules.signals), parts)
    metrics.watch_faust(app, (settings.input_topic, rekey_name, evidence_name, labels_name))
    clusters = ClusterTracker(detector.coordination.min_members, detector.coordination.window_seconds)

    # Alerts, actions, fingerprints, evidence and re-keyed events go through Faust's send buffer
    # (``send_soon``), not ``await topic.send``: with one record per producer batch (tansu) a send waits until
    # the partition's previous batch has left, one broker round trip, and the agent with it. Their delivery is
    # still awaited before the next offset commit (_Producer.delivered), like the changelog's.
    # The order matters for the crash guarantees: the buffer publishes in order, and everything handling a
    # message produces is put into it before anything that records the message as handled (an account state,
    # written at the next commit, which skips the message when it is read again; the fingerprint index, which
    # remembers whom it told). So ``emit`` is synchronous: an await between a message's state change and its
    # outputs would let a commit write the state first, and a crash then would lose the outputs for good.

    def emit(account_key: bytes, alerts: list[dict], fps: list) -> None:
        for alert in alerts:
            metrics.alert(alert)
            log.info(
                "alert %s account=%s severity=%s status=%s score=%.3f",
                alert["alert_id"], alert["account_id"], alert["severity"], alert["status"], alert["score"],
            )
            alerts_topic.send_soon(key=account_key, value=orjson.dumps(alert))
            # [actions] hook: rate-limit ladder for this alert
            if actions is not None:
                decision = actions.handle(alert)
                if decision.outcome is not None:
                    action_history.record(account_key, alert, decision)
            # [alerting] hook: Alertmanager push for this alert
            history.record(account_key, alert)
            if alertmanager is not None:
                alertmanager.on_alert(account_key, alert)
        for fp in fps:  # gathered, sent before the states that record them (before_commit, on_revoked)
            metrics.fingerprints.inc()
            fp_out.add(partition_for(fp.key, parts), orjson.dumps(fp.to_dict()))
        if fp_out.count >= GATHER_RECORDS:
            fp_out.send()

    def handle_evidence(message) -> None:
        """A record of cluster evidence (a JSON array, one item per account of this partition), applied to
        each account's state; what reaches a state that has not published the fingerprint yet goes round the
        topic again, as one record."""
        try:
            items = gathered_items(message.value)
        except orjson.JSONDecodeError:
            log.error("unreadable evidence record at %s/%s/%s", message.topic, message.partition, message.offset)
            return
        deferred: list[dict] = []
        since = dict(message.headers or ()).get(DEFERRED_HEADER)
        now = time.time()
        first = float(since) if since else now
        for item in items:
            try:
                ev = Evidence.from_dict(item)
            except (KeyError, TypeError, ValueError, AttributeError):
                log.error("unreadable evidence item in the record at %s/%s/%s", message.topic, message.partition,
                          message.offset)
                continue
            account_key = ev.account_id.encode()
            state = states.get(account_key, ev.account_id)
            if state is None:
                continue  # the account expired since it published the fingerprint
            if ev.ahead_of(state.fp_ts):  # read again after a crash, before the events that published the fingerprint
                if now - first < EVIDENCE_DEFER_SECONDS:  # once round the topic: those events are being read again
                    deferred.append(item)
                    metrics.evidence_deferred.inc()
                    continue
                log.warning("cluster evidence for account=%s deferred %.0f s, and its state has still not reached "
                            "the fingerprint it answers; applied as it is", ev.account_id, now - first)
            alerts: list[dict] = []
            detector.apply_evidence(state, ev, alerts, contexts.get(message.partition))
            states.changed(account_key, state, message.partition)
            metrics.evidence.inc()
            emit(account_key, alerts, ())
        if deferred:
            evidence_topic.send_soon(key=message.key, value=orjson.dumps(deferred), partition=message.partition,
                                     headers=[(DEFERRED_HEADER, repr(first).encode())])

    async def handle_label(message) -> None:
        try:
            label = decode_label(message.value or b"")
        except InvalidEvent as exc:
            metrics.labels.labels("invalid").inc()
            log.warning("rejected analyst label at %s/%s: %s", message.partition, message.offset, exc)
            return
        account_key = label.account_id.encode()
        if message.key != account_key:  # re-key once, onto the same topic
            await labels_topic.send(key=account_key, value=message.value)
            return
        state = states.get(account_key, label.account_id)
        if state is None:
            metrics.labels.labels("unknown_account").inc()
            log.warning("analyst label for an account without state; not learned")
            return
        detector.learn_label(state, label.abusive, contexts.get(message.partition))
        metrics.labels.labels("abusive" if label.abusive else "benign").inc()
        log.info("learned analyst label %s for account=%s from %s",
                 "abusive" if label.abusive else "benign", label.account_id, label.analyst)

    newest = [-math.inf]  # the newest event time this worker has processed (the clock of idle expiry)
    idle_ttl = settings.account_idle_seconds

    def handle_expire(message) -> None:
        """Forget an account idle for ``account_idle_seconds`` of event time (asked by :func:`sweep_idle`)."""
        key = message.key
        state = states.get(key) if key else None
        if state is None:
            return
        if state.last_ts >= newest[0] - idle_ttl:
            return  # active again since the sweep looked
        alerts: list[dict] = []
        detector.expire(state, newest[0], alerts, contexts.get(message.partition))
        emit(key, alerts, ())
        states.delete(key, message.partition)
        for t in (history.table, action_history.table):
            if t.get(key) is not None:
                del t[key]
        metrics.expired.inc()

    @app.timer(interval=settings.expiry_sweep_seconds)
    async def sweep_idle() -> None:
        """Find accounts idle past the TTL (by the newest event time seen) and ask the agent to forget
        them, in slices so the event loop keeps serving the stream."""
        if idle_ttl <= 0 or newest[0] == -math.inf:
            return
        horizon = newest[0] - idle_ttl
        keys = states.keys()
        for i in range(0, len(keys), 2000):
            for key in keys[i : i + 2000]:
                last = states.last_event_time(key)
                if last is None or last < horizon:
                    await rekey.send(key=key, value=b"", headers=[(EXPIRE_HEADER, b"1")],
                                     partition=partition_for(key, parts))
            await asyncio.sleep(0)

    homes: dict[bytes, int] = {}  # account key -> its partition

    async def handle(message, out: _Outcome) -> None:
        if message.topic == rekey_name and message.headers and EXPIRE_HEADER in dict(message.headers):
            handle_expire(message)
            return
        if message.topic == evidence_name:
            handle_evidence(message)
            return
        if message.topic == labels_name:
            await handle_label(message)
            return
        value = message.value if message.value is not None else b""
        t0 = time.perf_counter()
        decoded = decode_message(value)  # one record, or several (a batch, an OTLP request, LiteLLM lines)
        t1 = time.perf_counter()
        stage["decode"].observe_later(t1 - t0)
        if decoded.skipped:
            skipped.inc(decoded.skipped)
        results = decoded.items
        batch = len(results) > 1 or results[0][0] is not value  # several records, or an array of one
        # The message's events are processed in one synchronous loop; what it produced (alerts, rejects,
        # re-keyed events) goes out after it, once per message; the metrics, the expiry clock and the
        # circuit breaker hear of its events once per bunch, or before its alerts (settle).
        done, duplicate = len(out.times), out.duplicate
        rejects: list[tuple[bytes | None, InvalidEvent, int | None]] = []
        reroute: dict[int, list[tuple[bytes, str]]] = {}
        # One valid event of this partition's account through detection, written out: at a few thousand
        # instructions per event, the calls and attribute lookups of a helper function were a tenth of the
        # worker's per-event work (docs/BENCHMARKS.md, afternoon). What it produced goes out once the message
        # is done (settle, emit), synchronously: see the note above emit.
        partition, offset = message.partition, message.offset
        rekeyed = message.topic == rekey_name
        ctx = None
        live = dirty = None  # the states, for this synchronous loop (AccountStates.views)
        times, accounts = out.times, out.accounts
        alerts: list[dict] = []
        fps: list = []
        for index, (data, ev) in enumerate(results):
            if type(ev) is InvalidEvent:
                # a tombstone (null value) stays null in its dead-letter copy
                rejects.append((data if batch else message.value, ev, index if batch else None))
                continue
            account_id = ev.account_id
            account_key = account_id.encode()
            home = homes.get(account_key)
            if home is None:  # murmur2 in Python: once per account, not per event
                if len(homes) >= 100_000:
                    homes.clear()
                home = homes[account_key] = partition_for(account_key, parts)
            if home != partition:  # its state lives in another partition
                if rekeyed:  # never loop: we routed it ourselves
                    metrics.rekey_misrouted.inc()
                    log.error("re-keyed event for partition %d arrived on %d; dropped", home, partition)
                    continue
                reroute.setdefault(home, []).append((record_bytes(data), account_id))
                continue
            if ctx is None:  # the partition's models and states: every event processed here is of this partition
                ctx = contexts.get(partition)
                live, dirty = states.views(partition)
            state = live.get(account_key)
            if state is None:
                state = states.load(account_key, account_id)
            # Faust commits offsets every few seconds: after a crash the events since the last commit are read
            # again. The state knows the newest offset it absorbed from, so older ones count as duplicates,
            # exactly once (events of that one message again are caught by the request-id ring).
            if offset < (state.rekey_offset if rekeyed else state.input_offset):
                out.duplicate += 1
                continue
            scored_at, change_ts = state.n_scored_at, state.change_ts
            if not detector.process(state, ev, alerts, ctx, fps):
                out.duplicate += 1
                continue
            if rekeyed:
                state.rekey_offset = offset
            else:
                state.input_offset = offset
            dirty[account_key] = state  # to the table at the next offset commit
            times.append(ev.ts)
            accounts.append(account_id)
            if state.n_scored_at != scored_at:  # scored (a behaviour change is found only then)
                metrics.scoring(state, scored_at, change_ts, partition, min_events)
            if alerts or fps:
                out.emits.append((account_key, alerts, fps))
                alerts, fps = [], []
        if len(out.times) != done or out.duplicate != duplicate:
            stage["detect"].observe_later(time.perf_counter() - t1)
        if out.emits:
            settle(out)  # the circuit breaker decides on these alerts knowing every event before them
            emits, out.emits = out.emits, []
            for account_key, alerts, fps in emits:
                t3 = time.perf_counter()
                emit(account_key, alerts, fps)
                stage["emit"].observe_later(time.perf_counter() - t3)
        for data, exc, index in rejects:
            await reject(message, data, exc, index)
        if reroute:  # last: a message that failed before this point re-routes nothing
            out.reroute(reroute)

    # a re-key message is read back like an input message, and sent through a producer whose requests admit
    # max_event_bytes (plus headroom): it stays within both limits, and within max_message_events
    rekey_bytes = min(settings.max_event_bytes, settings.max_message_bytes)
    rekey_events = settings.max_message_events

    def send_rerouted(out: _Outcome) -> None:
        """The events gathered for other partitions, one re-key message per partition (a batch stays a batch
        on the re-key topic; split where it would outgrow the limits above), handed to the producer: the next
        offset commit waits until the broker has them."""
        for home, items in out.rerouted.items():
            metrics.rekeyed.inc(len(items))
            for chunk in _split(items, _record_size, rekey_bytes, rekey_events):
                send_rekey(home, chunk)
        out.rerouted, out.rerouted_events = {}, 0

    def send_rekey(home: int, items: list[tuple[bytes, str]]) -> None:
        if len(items) == 1:
            rekey.send_soon(key=items[0][1].encode(), value=items[0][0], partition=home)
        else:  # in the input format, so the re-key topic reads like the input topic
            rekey.send_soon(key=None, value=join([data for data, _ in items]), partition=home)

    async def reject(message, data: bytes | None, exc: InvalidEvent, index: int | None) -> None:
        metrics.rejected(exc)
        headers = [
            (DLQ_REASON_HEADER, str(exc).encode()),
            (DLQ_CODE_HEADER, exc.code.encode()),
            ("distillwatch-source", f"{message.topic}/{message.partition}/{message.offset}".encode()),
        ]
        if exc.field:
            headers.append((DLQ_FIELD_HEADER, exc.field.encode()))
        if index is not None:
            headers.append((DLQ_INDEX_HEADER, str(index).encode()))
        if data is not None:
            # prompt text out, too-large withheld
            data, info = dead_letter(data, exc.code, redact=redact_prompt, content=redact_content)
            headers.extend((f"distillwatch-{k.replace('_', '-')}", v.encode()) for k, v in info.items())
        await dlq.send(key=message.key, value=data, headers=headers)

    def settle(out: _Outcome) -> None:
        """The events handled since the last call, to the metrics, the expiry clock and the circuit breaker."""
        if out.times or out.duplicate:
            now = time.time()
            latest = max(out.times, default=-math.inf)
            metrics.processed_many(len(out.times), out.duplicate, out.times, now, latest)
            if latest > newest[0]:
                newest[0] = latest
            if actions is not None:  # the circuit breaker's count of active accounts
                actions.seen_many(out.accounts, out.times, now)
            out.times, out.accounts, out.duplicate = [], [], 0

    @app.agent(source, name="detect")
    async def detect(stream):
        # The events that have arrived are taken in one go (streams.bunching: with one event per message,
        # Faust's path between two events costs more than detection and evicts it from the caches). Each
        # event is acknowledged once handled, as with stream.events(): an offset becomes committable when
        # its message is done, and one the agent never finished is read again after a restart.
        # A message whose events for other partitions wait to be sent (_Outcome.reroute) is acknowledged once
        # they are, and so is every message after it: Faust's consumer commits past an unacknowledged message
        # at the head of a partition when the next one is acknowledged (Consumer._new_offset), so acks go in
        # order.
        taken = app.consumer.taken  # what the bunches hold, until acknowledged (_Consumer._new_offset)
        set_event = _faust_streams._current_event.set
        ref = weakref.ref
        yielded = time.perf_counter()
        out = _Outcome()
        held: list = []

        def take(event) -> None:
            message = event.message
            offsets = taken.get(message.tp)
            if offsets is None:
                offsets = taken[message.tp] = set()
            offsets.add(message.offset)

        async def ack(event) -> None:
            await stream.ack(event)
            message = event.message
            offsets = taken.get(message.tp)
            if offsets is not None:
                offsets.discard(message.offset)

        async def release() -> None:
            send_rerouted(out)
            for event in held:
                await ack(event)
            held.clear()

        async for events in bunches(stream, BUNCH_EVENTS, BUNCH_WAIT_SECONDS, on_take=take):
            for event in events:
                set_event(ref(event))  # table writes (alert and action history) take its partition
                t0 = time.perf_counter()
                try:
                    await handle(event.message, out)
                except Exception:  # a defect; as with stream.events(), its message is given up, not the bunch
                    out.emits = []  # not sent with the next message (in its partition)
                    message = event.message
                    log.exception("detect: the message at %s/%d/%d failed and is skipped",
                                  message.topic, message.partition, message.offset)
                t1 = time.perf_counter()
                metrics.process_seconds.observe_later(t1 - t0)
                if out.hold or held:
                    out.hold = False
                    held.append(event)
                    if out.rerouted_events >= REKEY_EVENTS or t1 - out.since > REKEY_WAIT_SECONDS:
                        await release()
                else:
                    await ack(event)
                if t1 - yielded > YIELD_SECONDS:  # a bunch of large batches: let timers, commits and scrapes run
                    settle(out)
                    await asyncio.sleep(0)
                    yielded = time.perf_counter()
            settle(out)
            await release()  # before the agent waits for more: Faust's rebalance waits for every ack
            # at the head of the input (its last message written less than GATHER_WAIT_SECONDS ago by the
            # record's timestamp), the fingerprints go now: their cluster evidence can raise alerts
            if fp_out.count:
                written = events[-1].message.timestamp
                if written is None or time.time() - written < GATHER_WAIT_SECONDS:
                    fp_out.send()

    @app.agent(fingerprints_topic, name="coordinate")
    async def coordinate(stream):
        """Repartitioned by fingerprint: which accounts share it; evidence back to them. A record holds the
        fingerprints of this partition that the detect agents gathered (a JSON array)."""
        async for event in stream.events():
            message = event.message
            try:
                items = gathered_items(message.value)
            except orjson.JSONDecodeError:
                log.error("unreadable fingerprint record at %s/%s", message.partition, message.offset)
                continue
            indexes: dict[bytes, FingerprintIndex] = {}
            for item in items:
                try:
                    fp = Fingerprint.from_dict(item)
                except (KeyError, TypeError, ValueError, AttributeError):
                    log.error("unreadable fingerprint in the record at %s/%s", message.partition, message.offset)
                    continue
                key = fp.key
                index = indexes.get(key)
                if index is None:
                    index = indexes[key] = FingerprintIndex.from_bytes(fingerprint_table.get(key) or b"",
                                                                       detector.coordination)
                out = index.observe(fp)
                if clusters.observe(key, bool(out), len(index.members), fp.ts):
                    metrics.clusters_formed.labels(fp.kind).inc()
                for e in out:
                    metrics.cluster_links.inc()
                    evidence_out.add(partition_for(e.account_id.encode(), parts), orjson.dumps(e.to_dict()))
            evidence_out.send()  # the evidence first, then the indexes that record it as told (see emit)
            for key, index in indexes.items():
                fingerprint_table[key] = index.to_bytes()

    @app.on_partitions_revoked.connect
    async def on_revoked(app, revoked, **kwargs) -> None:
        gone = {tp.partition for tp in revoked if tp.topic == settings.input_topic}
        fp_out.send()  # ahead of the states of the partitions that go (before_commit)
        states.drop(gone)
        contexts.forget(gone)

    @app.timer(interval=GATHER_WAIT_SECONDS / 5)
    async def send_gathered():
        if fp_out.count and time.monotonic() - fp_out.since >= GATHER_WAIT_SECONDS:
            fp_out.send()

    @app.timer(interval=5.0)
    async def report_state():
        metrics.accounts.set(len(states))
        metrics.observe_contexts(contexts.loaded())
        metrics.clusters_active.set(clusters.active())

    @app.page("/metrics")
    async def metrics_view(web, request):
        """Every metric, or with ``?name[]=...`` (repeatable) only those series, as client_python's own
        exporters do: a poller of one counter does not pay for rendering all of them."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        names = request.query.getall("name[]", [])
        registry = metrics.registry.restricted_registry(names) if names else metrics.registry
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    install_views(app, settings, detector, table, states, contexts, history, action_history, labels_topic)

    @app.page("/healthz")
    async def healthz(web, request):
        return web.json({"status": "ok", "app_id": settings.app_id})

    return Components(app=app, detector=detector, metrics=metrics, table=table, states=states)


class ContextCache:
    """Partition contexts in memory, loaded from and checkpointed to their table.

    A context is written back before an offset commit once ``checkpoint_seconds``
    (wall clock) have passed since it was last written, into its own partition.
    A revoked partition's copy is dropped: whoever owns the partition next reloads
    the table entry.
    """

    def __init__(self, detector: Detector, table, checkpoint_seconds: float, source_topic: str):
        self.detector = detector
        self.table = table
        self.checkpoint_seconds = checkpoint_seconds
        self.source_topic = source_topic
        self._contexts: dict[int, PartitionContext] = {}
        self._saved: dict[int, float] = {}

    @staticmethod
    def key(partition: int) -> bytes:
        return f"p{partition}".encode()

    def get(self, partition: int) -> PartitionContext:
        ctx = self._contexts.get(partition)
        if ctx is None:
            data = self.table.get(self.key(partition))
            ctx = self.detector.load_context(data)
            self._contexts[partition] = ctx
            self._saved[partition] = time.monotonic()
        return ctx

    def checkpoint(self) -> None:
        """Write the contexts last written ``checkpoint_seconds`` ago or more."""
        now = time.monotonic()
        for partition, ctx in self._contexts.items():
            if now - self._saved.get(partition, 0.0) >= self.checkpoint_seconds:
                with in_partition(self.source_topic, partition):
                    self.table[self.key(partition)] = ctx.to_bytes()
                self._saved[partition] = now

    def loaded(self):
        return self._contexts.values()

    def forget(self, partitions) -> None:
        for p in partitions:
            self._contexts.pop(p, None)
            self._saved.pop(p, None)
