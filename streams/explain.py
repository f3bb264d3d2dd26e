"""The explain view: why an account was flagged, for on-call (JSON and HTML).

``GET /explain/{account_id}`` answers JSON, or a self-contained HTML page
when the client asks for ``text/html`` (a browser) or adds ``?format=html``
(``?format=json`` forces JSON). It needs the admin bearer token
(:mod:`streams.auth`), since it shows per-account data; a browser without it
is sent to ``/login``, where the token typed in once buys a session cookie.
``POST /labels`` (bearer token only) writes an analyst label to the labels
topic.

The account's state lives in one partition; a worker that does not own it
forwards the request, with its headers, to the worker that does
(``app.table_route``; workers find each other through the advertised
``web_host``/``web_port``). The score and signals are recomputed from the
account's state at its last event time against its partition's population
(the same :meth:`Detector.assess` the agent runs, without learning), so the
view says where the account stands now, not only at its last alert. The
alert timeline is a small changelog-backed table (``alert-history``, the last
:data:`HISTORY_LIMIT` alerts per account).
"""

from __future__ import annotations

import html
import math
import re
import time
from typing import Any
from urllib.parse import quote

import faust
import orjson
from faust.web import Request, Response, View

from detectors.contract import InvalidEvent, format_timestamp
from detectors.engine import CLUSTER_KINDS as ENGINE_CLUSTER_KINDS
from detectors.engine import Detector, PartitionContext, partition_for
from detectors.labels import LABEL_MAX_BYTES, decode_label
from detectors.rules import SEVERITIES
from detectors.state import AccountState

from .auth import DISABLED_MESSAGE, SESSION_COOKIE, SESSION_SECONDS, check_bearer, check_session, make_session
from .settings import Settings

__all__ = ["AlertHistory", "ActionHistory", "explain_document", "format_text", "render_html", "login_page",
           "install_views", "HISTORY_TABLE", "ACTION_HISTORY_TABLE"]

HISTORY_TABLE = "alert-history"
ACTION_HISTORY_TABLE = "action-history"
HISTORY_LIMIT = 20
CLUSTER_KINDS = {v: k for k, v in ENGINE_CLUSTER_KINDS.items()}


class AlertHistory:
    """The last :data:`HISTORY_LIMIT` alerts of each account, newest first (JSON list per account)."""

    def __init__(self, table: faust.Table):
        self.table = table

    def record(self, account_key: bytes, alert: dict) -> None:
        """Add one alert; called from the detect agent, so the entry lands in the account's partition."""
        entry = {k: alert.get(k) for k in ("alert_id", "episode_id", "status", "severity", "score", "detected_at",
                                            "episode_opened_at", "cluster")}
        entry["signals"] = [r["signal"] for r in alert.get("reasons") or []]
        self._push(account_key, entry)

    def entries(self, account_key: bytes) -> list[dict]:
        raw = self.table.get(account_key)
        return orjson.loads(raw) if raw else []

    def _push(self, account_key: bytes, entry: dict) -> None:
        self.table[account_key] = orjson.dumps([entry, *self.entries(account_key)][:HISTORY_LIMIT])


class ActionHistory(AlertHistory):
    """The last :data:`HISTORY_LIMIT` rate-limit decisions of each account, newest first: published actions
    and the ones withheld (allowlisted, halted by the breaker, paused while failing open)."""

    def record(self, account_key: bytes, alert: dict, decision) -> None:
        """One :class:`detectors.actions.Decision` about ``alert``; called from the detect agent."""
        rec = decision.record or {}
        self._push(account_key, {
            "time": rec.get("issued_at") or alert.get("detected_at"),
            "action": decision.action,
            "outcome": decision.outcome + (f" ({decision.pause_reason})" if decision.pause_reason else ""),
            "expires_at": rec.get("expires_at"),
            "limit_per_minute": rec.get("limit_per_minute"),
            "action_id": rec.get("action_id"),
            "alert_id": alert.get("alert_id"),
        })


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def explain_document(
    detector: Detector, state: AccountState, ctx: PartitionContext, history: list[dict], actions: list[dict]
) -> dict[str, Any]:
    """What the explain view shows, from the account's state and its partition's population (no learning)."""
    now = state.last_ts
    feats, a = detector.assess(state, now, ctx)
    reasons = []
    for r in a.reasons:
        d = r.to_dict()
        d["baseline"] = ctx.population.baseline(r.feature)
        reasons.append(d)
    episode = None
    if state.ep_severity:
        current = next((h for h in history if h.get("episode_opened_at") == format_timestamp(state.ep_opened_ts)),
                       None)
        episode = {
            "episode_id": current["episode_id"] if current else None,
            "severity": SEVERITIES[state.ep_severity],
            "opened_at": format_timestamp(state.ep_opened_ts),
            "peak_score": round(state.ep_peak, 4),
        }
    cluster = None
    if state.cluster_id:
        related = next((h["cluster"].get("related_accounts") for h in history
                        if h.get("cluster") and h["cluster"].get("related_accounts")), None)
        cluster = {
            "cluster_id": f"{state.cluster_id:016x}",
            "kind": CLUSTER_KINDS.get(state.cluster_kind),
            "size": state.cluster_size,
            "strength": round(state.cluster_strength, 4),
            "linked_at": format_timestamp(state.cluster_ts) if math.isfinite(state.cluster_ts) else None,
            "related_accounts": related or [],
        }
    return {
        "account_id": state.account_id,
        "as_of": format_timestamp(now),
        "events": state.n,
        "score": round(a.score, 4),
        "content": round(a.content, 4),
        "pattern": round(a.pattern, 4),
        "severity": SEVERITIES[detector.rules.severity(a.score)],
        "episode": episode,
        "signals": reasons,
        "features": {k: _finite(round(v, 4)) for k, v in feats.items()},
        "cluster": cluster,
        "alerts": history,
        "actions": actions,
    }


# -- text (distillwatch explain) ----------------------------------------------------


def format_text(doc: dict[str, Any]) -> str:
    """The explain view as a terminal summary, for ``distillwatch explain``."""
    ep = doc["episode"]
    lines = [
        f"account   {doc['account_id']}",
        f"score     {doc['score']:.3f}  severity {doc['severity']}  (content {doc['content']:.3f}, "
        f"pattern {doc['pattern']:.3f}; {doc['events']} events, as of {doc['as_of']})",
        "episode   " + (f"{ep['severity']}, open since {ep['opened_at']}, peak {ep['peak_score']:.3f}"
                        if ep else "none open"),
        "",
        "top signals (account value vs population median / p90 / p99):",
    ]
    for r in doc["signals"]:
        b = r.get("baseline")
        base = f"{b['median']:.3g} / {b['p90']:.3g} / {b['p99']:.3g}" if b else "no baseline yet"
        lines.append(f"  {r['signal']:<24} {r['value']:>9.3g}   vs {base}   (+{r['contribution']:.2f}) "
                     f"{r['description']}")
    if not doc["signals"]:
        lines.append("  none")
    c = doc["cluster"]
    if c:
        members = ", ".join(c["related_accounts"]) or "members not known yet"
        linked = f"cluster {c['cluster_id']} ({c['kind']}, size {c['size']}, strength {c['strength']:.2f}): {members}"
    lines += ["", "linked:   " + (linked if c else "no cluster")]
    lines += ["", "recent alerts (newest first):"]
    lines += [f"  {h['detected_at']}  {h['status']:<9} {h['severity']:<8} {h['score']:.3f}  "
              f"{', '.join(h.get('signals') or [])}" for h in doc["alerts"]] or ["  none"]
    lines += ["", "actions:"]
    lines += [f"  {x.get('time')}  {x.get('action')}  {x.get('outcome')}" for x in doc["actions"]] or ["  none"]
    return "\n".join(lines)


# -- HTML ----------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#222}
h1{font-size:1.4rem;word-break:break-all} h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%} th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums} .muted{color:#777}
.sev-critical{color:#b00020;font-weight:bold} .sev-warning{color:#b36b00;font-weight:bold} .sev-info{color:#0057b3}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _num(v: Any) -> str:
    return "–" if v is None else _e(f"{v:.4g}" if isinstance(v, float) else v)


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(v: Any, numeric: bool = False) -> str:
    return f'<td class="n">{_num(v)}</td>' if numeric else f"<td>{_e(v)}</td>"


def render_html(doc: dict[str, Any]) -> str:
    """A readable, self-contained page (no scripts, no external assets); every value is escaped."""
    acct = doc["account_id"]
    sev = doc["severity"]
    ep = doc["episode"]
    signals = [
        [_td(r["signal"]), _td(r["description"]), _td(r["value"], True), _td(r["threshold"], True),
         *(_td((r.get("baseline") or {}).get(q), True) for q in ("median", "p90", "p99")),
         _td(r["contribution"], True)]
        for r in doc["signals"]
    ]
    timeline = [
        [_td(h.get("detected_at")), _td(h.get("status")), f'<td class="sev-{_e(h.get("severity"))}">'
         f'{_e(h.get("severity"))}</td>', _td(h.get("score"), True), _td(", ".join(h.get("signals") or []))]
        for h in doc["alerts"]
    ]
    cluster = doc["cluster"]
    if cluster:
        links = "".join(f'<li><a href="{_e(quote(a, safe=""))}">{_e(a)}</a></li>' for a in cluster["related_accounts"])
        linked = (f"<p>cluster <code>{_e(cluster['cluster_id'])}</code> ({_e(cluster['kind'])}), size "
                  f"{_num(cluster['size'])}, strength {_num(cluster['strength'])}</p>"
                  + (f"<ul>{links}</ul>" if links else '<p class="muted">related accounts not known yet</p>'))
    else:
        linked = '<p class="muted">not linked to any cluster</p>'
    actions = [[_td(x.get("time")), _td(x.get("action")), _td(x.get("outcome")), _td(x.get("expires_at"))]
               for x in doc["actions"]]
    features = [[_td(k), _td(v, True)] for k, v in sorted(doc["features"].items())]
    episode = (f'open since {_e(ep["opened_at"])}, severity <span class="sev-{_e(ep["severity"])}">'
               f'{_e(ep["severity"])}</span>, peak score {_num(ep["peak_score"])}' if ep else "no open episode")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>distillwatch: {_e(acct)}</title>
<style>{_CSS}</style></head><body>
<h1>Account <code id="account">{_e(acct)}</code></h1>
<p>Score <strong id="score">{_num(doc["score"])}</strong> (content {_num(doc["content"])}, pattern
{_num(doc["pattern"])}), severity <span class="sev-{_e(sev)}" id="severity">{_e(sev)}</span>, as of
{_e(doc["as_of"])} (event time), {_num(doc["events"])} events. Episode: {episode}.</p>
<h2>Top signals against the population</h2>
{_table(["signal", "what", "account", "counts from", "median", "p90", "p99", "contribution"], signals,
        "no signal contributes to the score")}
<h2>Alert timeline</h2>
{_table(["detected at", "status", "severity", "score", "signals"], timeline, "no alerts")}
<h2>Linked accounts</h2>
{linked}
<h2>Actions</h2>
{_table(["time", "action", "outcome", "expires"], actions, "no rate-limit actions")}
<details><summary>Feature vector</summary>{_table(["feature", "value"], features, "none")}</details>
</body></html>
"""


# -- views ---------------------------------------------------------------------

#: The page runs no script and loads nothing: forbid both, in case an escape is ever missed.
HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _wants_html(request: Request) -> bool:
    fmt = request.query.get("format")
    if fmt in ("html", "json"):
        return fmt == "html"
    return "text/html" in request.headers.get("Accept", "")


def login_page(next_path: str, problem: str = "") -> str:
    """The form that trades the admin token for a session cookie (for browsers following explain links)."""
    note = f'<p class="sev-critical">{_e(problem)}</p>' if problem else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>distillwatch: sign in</title><style>{_CSS}</style></head><body>
<h1>distillwatch explain view</h1>{note}
<form method="post" action="/login"><input type="hidden" name="next" value="{_e(next_path)}">
<label>Admin token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form>
<p class="muted">The session lasts {SESSION_SECONDS // 3600} hours in this browser.</p>
</body></html>
"""


def _safe_next(path: str | None) -> str:
    """Where to go after signing in: an explain page of this server, or nowhere (no open redirect, and
    printable ASCII only: it becomes a Location header)."""
    return path if path and re.fullmatch(r"/explain/[!-\[\]-~]+", path) else ""


async def _read_capped(request: Request, cap: int) -> bytes | None:
    """The request body, or None as soon as it is longer than ``cap`` bytes (never buffers more)."""
    body = bytearray()
    while len(body) <= cap:
        chunk = await request.content.read(cap + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return None if len(body) > cap else bytes(body)


def install_views(app: faust.App, settings: Settings, detector: Detector, table: faust.Table, states, contexts,
                  history: AlertHistory, action_history: ActionHistory, labels_topic: faust.TopicT) -> None:
    """Register ``/explain/{account_id}``, ``/login`` and ``POST /labels`` on the worker's web server."""
    token = settings.admin_secret()
    parts = settings.partitions
    cookie_flags = "; Secure" if settings.base_url.startswith("https://") else ""

    def denied(view: View, request: Request, *, session_ok: bool = False) -> Response | None:
        d = check_bearer(request.headers.get("Authorization"), token)
        if d is None or (session_ok and check_session(request.cookies.get(SESSION_COOKIE), token, time.time())):
            return None
        if session_ok and d.status == 401 and _wants_html(request):  # a browser: sign in, then come back
            back = quote(request.rel_url.raw_path_qs, safe="")
            return view.text("", status=303, headers={"Location": f"/login?next={back}"})
        return view.error(d.status, d.message, headers=d.headers)

    @app.page("/login")
    class LoginView(View):
        async def get(self, request: Request) -> Response:
            if token is None:
                return self.error(403, DISABLED_MESSAGE)
            return self.html(login_page(_safe_next(request.query.get("next"))), headers=dict(HTML_HEADERS))

        async def post(self, request: Request) -> Response:
            form = await request.post()
            next_path = _safe_next(str(form.get("next", "")))
            d = check_bearer(f"Bearer {form.get('token', '')}", token)
            if d is not None:
                status = d.status if d.status == 403 else 401
                return self.html(login_page(next_path, d.message), status=status, headers=dict(HTML_HEADERS))
            cookie = (f"{SESSION_COOKIE}={make_session(token, time.time())}; Max-Age={SESSION_SECONDS}; Path=/; "
                      f"HttpOnly; SameSite=Strict{cookie_flags}")
            if not next_path:
                return self.html("<!DOCTYPE html><title>distillwatch</title><p>Signed in: open an explain link.</p>",
                                 headers={**HTML_HEADERS, "Set-Cookie": cookie})
            return self.text("", status=303, headers={"Location": next_path, "Set-Cookie": cookie})

    @app.page("/explain/{account_id}")
    class ExplainView(View):
        async def get(self, request: Request, account_id: str) -> Response:
            return denied(self, request, session_ok=True) or await self.owned(request, account_id)

        @app.table_route(table=table, match_info="account_id")
        async def owned(self, request: Request, account_id: str) -> Response:
            key = account_id.encode()
            state = states.get(key, account_id)  # the live state, newer than the table between commits
            if state is None:
                return self.error(404, "unknown account", account_id=account_id)
            doc = explain_document(detector, state, contexts.get(partition_for(key, parts)),
                                   history.entries(key), action_history.entries(key))
            doc["served_by"] = str(app.conf.canonical_url)  # the worker that owns the account
            if _wants_html(request):
                return self.html(render_html(doc), headers=dict(HTML_HEADERS))
            return self.bytes(orjson.dumps(doc), content_type="application/json",
                              headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    @app.page("/labels")
    class LabelsView(View):
        async def post(self, request: Request) -> Response:
            if (refused := denied(self, request)) is not None:
                return refused
            # [badinput] size cap before reading: a label is small (detectors.labels.LABEL_MAX_BYTES)
            if request.content_length is not None and request.content_length > LABEL_MAX_BYTES:
                return self.error(413, f"label body over {LABEL_MAX_BYTES} bytes")
            raw = await _read_capped(request, LABEL_MAX_BYTES)
            if raw is None:  # chunked, without a length
                return self.error(413, f"label body over {LABEL_MAX_BYTES} bytes")
            try:
                body = orjson.loads(raw)
                if not isinstance(body, dict):
                    raise InvalidEvent(None, "a label must be a JSON object", "not_object")
                body.setdefault("time", format_timestamp(time.time()))
                label = decode_label(orjson.dumps(body))
            except orjson.JSONDecodeError as exc:
                return self.error(400, f"invalid JSON: {exc}")
            except InvalidEvent as exc:
                return self.error(400, str(exc))
            value = orjson.dumps(label.to_dict())
            await labels_topic.send(key=label.account_id.encode(), value=value)
            return self.json({"status": "accepted", "label": label.to_dict()}, status=202)
