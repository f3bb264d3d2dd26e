"""The ``distillwatch`` command line: help, usage errors, exit statuses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from streams.cli import build_parser, main
from streams.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[1]

SUBCOMMANDS = ["worker", "replay", "simulate", "demo", "broker", "settings", "release", "evaluate", "backtest",
               "explain", "label"]

# A word or phrase only that subcommand's help contains.
DISTINCTIVE = {
    "worker": "changelog-backed table",
    "replay": "same detection code as the worker",
    "simulate": "harvesters",
    "demo": "live traffic",
    "broker": "bootstrap address",
    "settings": "effective settings",
    "release": "reverses the account's latest throttle or block",
    "evaluate": "Score one run",
    "backtest": "comma-separated seeds",
    "explain": "forwards to the one that owns the account",
    "label": "teaches its partition's label model",
}


@pytest.fixture(autouse=True)
def _wide_help(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps help text at $COLUMNS


def _flat(text: str) -> str:
    return " ".join(text.split())


def _exit_code(argv: list[str]) -> int:
    """Run main in-process; argparse's SystemExit becomes its code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def test_parser_knows_exactly_the_documented_subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(SUBCOMMANDS)


def test_top_level_help(capsys):
    assert _exit_code(["--help"]) == 0
    out = _flat(capsys.readouterr().out)
    assert out.startswith("usage: distillwatch")
    assert "harvest model outputs" in out
    for name in SUBCOMMANDS:
        assert re.search(rf"\b{name}\b", out), name


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help(capsys, command):
    assert _exit_code([command, "--help"]) == 0
    out = _flat(capsys.readouterr().out)
    assert out.startswith(f"usage: distillwatch {command}")
    assert DISTINCTIVE[command] in out
    # the distinctive phrase really belongs to this subcommand only
    for other in SUBCOMMANDS:
        if other != command:
            assert DISTINCTIVE[other] not in out, other


def test_no_subcommand_is_a_usage_error(capsys):
    assert _exit_code([]) == 2
    assert "usage: distillwatch" in capsys.readouterr().err


def test_unknown_subcommand_exits_2(capsys):
    assert _exit_code(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "frobnicate" in err
    assert "invalid choice" in err


def test_replay_requires_input_and_alerts(capsys):
    assert _exit_code(["replay", "--alerts", "x.jsonl"]) == 2
    assert "--input" in capsys.readouterr().err


def test_replay_missing_input_file_exits_1(capsys, tmp_path):
    missing = tmp_path / "no-such-events.jsonl"
    alerts = tmp_path / "alerts.jsonl"
    code = _exit_code(["replay", "--input", str(missing), "--alerts", str(alerts), "--no-progress"])
    assert code == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert str(missing) in lines[0]
    assert lines[0].startswith("distillwatch replay:")
    assert "Traceback" not in captured.err
    assert not alerts.exists()  # nothing written when the input cannot be opened


def test_settings_prints_every_env_var(capsys):
    assert _exit_code(["settings"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) == len(Settings.model_fields)
    for name, info in Settings.model_fields.items():
        var = f"{ENV_PREFIX}{name.upper()}"
        line = next((ln for ln in lines if ln.split()[0] == var), None)
        assert line is not None, var
        assert info.description.split()[0] in line


def test_settings_shows_effective_values(capsys, monkeypatch, tmp_path):
    cfg = tmp_path / "dw.toml"
    cfg.write_text('partitions = 3\nstore = "rocksdb://"\n')
    monkeypatch.setenv("DISTILLWATCH_PARTITIONS", "5")
    assert _exit_code(["settings", "--config", str(cfg)]) == 0
    values = {}
    for ln in capsys.readouterr().out.splitlines():
        var, _, rest = ln.partition("=")
        values[var.strip()] = rest.split("#")[0].strip()
    assert values["DISTILLWATCH_PARTITIONS"] == "5"  # env beats the file
    assert values["DISTILLWATCH_STORE"] == "rocksdb://"  # from the file
    assert values["DISTILLWATCH_APP_ID"] == "distillwatch"  # default


def test_settings_never_prints_the_webhook_secret(capsys, monkeypatch):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    monkeypatch.setenv("DISTILLWATCH_WEBHOOK_SECRET", secret)
    assert _exit_code(["settings"]) == 0
    out = capsys.readouterr().out
    assert secret not in out and "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in out
    line = next(ln for ln in out.splitlines() if ln.startswith("DISTILLWATCH_WEBHOOK_SECRET "))
    assert line.split("=", 1)[1].split("#")[0].strip() == "***"
    monkeypatch.setenv("DISTILLWATCH_WEBHOOK_SECRET", "whsec_c2hvcnQ=!")  # malformed: the error must not echo it
    assert _exit_code(["settings"]) == 2
    err = capsys.readouterr().err
    assert "DISTILLWATCH_WEBHOOK_SECRET" in err and "c2hvcnQ" not in err


def test_settings_bad_value_in_process(capsys, monkeypatch):
    monkeypatch.setenv("DISTILLWATCH_LOG_LEVEL", "loud")
    assert _exit_code(["settings"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "DISTILLWATCH_LOG_LEVEL" in captured.err


def test_simulate_rejects_bad_rate_with_status_2(capsys, tmp_path):
    code = _exit_code(["simulate", "--out", str(tmp_path / "x.jsonl"), "--invalid-rate", "0.9", "--no-progress"])
    assert code == 2
    assert "--invalid-rate" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


# -- as a real process -----------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env["COLUMNS"] = "200"
    return env


def test_module_entry_as_subprocess():
    r = subprocess.run(
        [sys.executable, "-m", "streams.cli", "--help"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: distillwatch")
    assert "replay" in r.stdout


def test_console_script_as_subprocess(tmp_path):
    script = Path(sys.executable).parent / "distillwatch"
    if not script.exists():
        pytest.skip("distillwatch console script not installed in this environment")
    r = subprocess.run([str(script), "replay", "--help"], env=_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert DISTINCTIVE["replay"] in _flat(r.stdout)
    r = subprocess.run([str(script), "frobnicate"], env=_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "invalid choice" in r.stderr


@pytest.mark.parametrize("level", ["warning", "error", "info"])
def test_worker_logs_nothing_below_its_level(level):
    """Faust's start-up spinner would set the root logger to DEBUG at levels warning and error (every
    aiokafka debug call then builds a record); the worker keeps the level it is given."""
    import logging

    import faust

    from streams.cli import new_worker

    root = logging.getLogger()
    saved = root.level, root.handlers[:]
    try:
        worker = new_worker(faust.App("test-cli-logging", broker="kafka://127.0.0.1:1"), level)
        worker._setup_logging()  # what the worker runs first thing when it starts
        assert root.level == getattr(logging, level.upper())
        assert not logging.getLogger("aiokafka.conn").isEnabledFor(logging.DEBUG)
        assert not any(type(h).__name__ == "SpinnerHandler" for h in root.handlers)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


def test_freeze_heap_leaves_what_is_alive_out_of_full_collections():
    """The worker and replay freeze their start-up heap: a full collection then walks only what came after."""
    import gc

    from streams.cli import freeze_heap

    before: list = []
    try:
        assert freeze_heap() >= 1 and gc.get_freeze_count() >= 1
        after: list = []
        tracked = gc.get_objects()  # every generation, the frozen objects excepted
        assert not any(o is before for o in tracked)
        assert any(o is after for o in tracked)
    finally:
        gc.unfreeze()
