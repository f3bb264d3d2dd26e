"""What the monitoring files ask of Prometheus, for the tests: the dashboards'
panel queries (with Grafana's variables substituted) and the metric names used
in PromQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
RULES = ROOT / "deploy" / "prometheus" / "rules" / "distillwatch.rules.yml"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACES = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, rows' nested panels included."""
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])


def dashboard_exprs() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every panel target."""
    out = []
    for path in DASHBOARDS:
        for p in panels(json.loads(path.read_text())):
            for t in p.get("targets", []):
                out.append((path.name, p["title"], t["expr"]))
    return out


def substitute(expr: str, job: str, instance: str = ".*", rate_interval: str = "1m", range_: str = "5m") -> str:
    """The query Grafana sends for the given variable values."""
    for var, value in (("$__rate_interval", rate_interval), ("$__range", range_), ("$__interval", "15s"),
                       ("$instance", instance), ("$job", job)):
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown variable in {expr}"
    return expr


def metric_names(expr: str) -> set[str]:
    """Metric and recorded series names a PromQL expression selects: identifiers
    outside strings, label matchers and grouping clauses that are not functions,
    keywords or durations."""
    e = _STRING.sub('""', expr)
    e = _BRACES.sub("", e)
    e = _GROUPING.sub("", e)
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges and subqueries' durations
    names = set()
    for m in _NAME.finditer(e):
        word = m.group()
        rest = e[m.end():].lstrip()
        if rest.startswith("("):
            continue  # a function or aggregation
        if word in {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
                    "group_right", "inf", "nan", "Inf", "NaN"}:
            continue
        names.add(word)
    return names


def recorded_names() -> set[str]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}


def rule_exprs() -> list[str]:
    doc = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]
