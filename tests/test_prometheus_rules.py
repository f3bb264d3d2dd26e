"""The Prometheus rules (deploy/prometheus/rules/) against the real promtool, and
their runbook (docs/runbook.md).

promtool comes from the Debian package `prometheus`, which `make test` installs
(scripts/install-system-deps.sh): a missing promtool fails these tests.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROMTOOL = Path("/usr/bin/promtool")
PROM_DIR = ROOT / "deploy" / "prometheus"
RULES = PROM_DIR / "rules" / "distillwatch.rules.yml"
RULE_TESTS = sorted((PROM_DIR / "tests").glob("*.yml"))
RUNBOOK = ROOT / "docs" / "runbook.md"


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    assert PROMTOOL.exists(), "promtool missing: run `make system-deps` (scripts/install-system-deps.sh)"
    return subprocess.run([str(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def alerting_rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def runbook_entries() -> list[str]:
    """Headings of the runbook's "Alerts" section."""
    text = RUNBOOK.read_text()
    section = text.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^### (\S+)\s*$", section, re.M)


def test_rules_and_scrape_config_pass_promtool_check():
    out = promtool("check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    out = promtool("check", "config", str(PROM_DIR / "prometheus.yml"))  # also loads rule_files
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 rule files found" in out.stdout


def test_rule_unit_tests_pass_promtool_test_rules():
    assert RULE_TESTS
    out = promtool("test", "rules", *[p.name for p in RULE_TESTS], cwd=PROM_DIR / "tests")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_has_a_test_that_fires_it_and_one_that_shows_it_quiet():
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for t in case.get("alert_rule_test", []):
                (fired if t.get("exp_alerts") else quiet).add(t["alertname"])
    names = {r["alert"] for r in alerting_rules()}
    assert names - fired == set(), "alerts without a firing test"
    assert names - quiet == set(), "alerts without a quiet test"
    assert (fired | quiet) - names == set(), "tests of alerts that do not exist"


def test_every_alert_is_labelled_and_annotated_for_on_call():
    for rule in alerting_rules():
        name = rule["alert"]
        assert re.fullmatch(r"Distillwatch[A-Z][A-Za-z]+", name), name
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        ann = rule["annotations"]
        assert ann["summary"] and ann["description"], name
        assert ann["runbook_url"] == f"docs/runbook.md#{name.lower()}", name


def test_runbook_has_an_entry_per_alert_and_no_other():
    entries = runbook_entries()
    assert len(entries) == len(set(entries)), "duplicate runbook entries"
    assert sorted(entries) == sorted(r["alert"] for r in alerting_rules())
    text = RUNBOOK.read_text()
    for name in entries:  # each entry says what it means, what breaks, what to look at, what to do, whom to call
        body = text.split(f"### {name}\n", 1)[1].split("\n### ", 1)[0]
        for part in ("**Means:**", "**Impact:**", "**First checks:**", "**Remedies:**", "**Escalation:**"):
            assert part in body, (name, part)
    for anchor in re.findall(r"\]\(#([a-z0-9-]+)\)", text):  # links between entries resolve
        assert anchor in {e.lower() for e in entries}, anchor

