"""The explain view, the labels endpoint, their bearer-token auth, and the CLI around them.

Unit tests check the HTML escaping and the token check; the integration
tests run a real worker on the embedded broker, feed it harvesters among
ordinary accounts, and read the view over HTTP, in headless Chromium (through
chromedriver, which can send the Authorization header) and through the
``distillwatch explain`` / ``label`` commands.
"""

from __future__ import annotations

import hmac
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from urllib.parse import quote

import orjson
import pytest

from streams import auth
from streams.broker import free_port
from streams.explain import render_html
from tests.kafkautil import consume, produce
from tests.oncall_traffic import harvester, population

TOKEN = "t0ken-for-tests-" + "x" * 24
HOSTILE = '<script>alert("pwned")</script>&"\''


# -- unit ------------------------------------------------------------------------


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_render_html_escapes_every_account_controlled_value():
    reason = {"signal": HOSTILE, "description": HOSTILE, "value": 1.0, "threshold": 0.5, "contribution": 0.9,
              "baseline": {"median": 0.0, "p90": 0.1, "p99": 0.5}}
    doc = {
        "account_id": HOSTILE, "as_of": HOSTILE, "events": 3, "score": 0.9, "content": 0.9, "pattern": 0.9,
        "severity": "critical",
        "episode": {"episode_id": "e", "severity": HOSTILE, "opened_at": HOSTILE, "peak_score": 0.9},
        "signals": [reason], "features": {HOSTILE: 1.0},
        "cluster": {"cluster_id": HOSTILE, "kind": HOSTILE, "size": 3, "strength": 0.5,
                    "related_accounts": [HOSTILE, '" onmouseover="x']},
        "alerts": [{"detected_at": HOSTILE, "status": HOSTILE, "severity": HOSTILE, "score": 0.9,
                    "signals": [HOSTILE]}],
        "actions": [{"time": HOSTILE, "action": HOSTILE, "outcome": HOSTILE, "expires_at": HOSTILE}],
    }
    page = render_html(doc)
    p = _Collect()
    p.feed(page)
    assert "script" not in p.tags
    assert not any(name.startswith("on") for name, _ in p.attrs), "an attribute was injected"
    text = "".join(p.text)
    assert text.count(HOSTILE) >= 10  # shown, as text, wherever it appears
    hrefs = [v for k, v in p.attrs if k == "href"]
    assert hrefs == [quote(HOSTILE, safe=""), quote('" onmouseover="x', safe="")]


def test_bearer_check_fails_closed_and_compares_in_constant_time(monkeypatch):
    assert auth.check_bearer(f"Bearer {TOKEN}", TOKEN) is None
    assert auth.check_bearer(f"bearer  {TOKEN} ", TOKEN) is None
    denied = auth.check_bearer(f"Bearer {TOKEN}", None)
    assert denied.status == 403 and denied.message == "admin endpoints disabled: set DISTILLWATCH_ADMIN_TOKEN"
    for header in (None, "", TOKEN, f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x",
                   f"Bearer {TOKEN.upper()}"):
        d = auth.check_bearer(header, TOKEN)
        assert d is not None and d.status == 401 and d.headers["WWW-Authenticate"].startswith("Bearer"), header
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert auth.check_bearer("Bearer guess", TOKEN).status == 401
    assert calls == [(b"guess", TOKEN.encode())]


def test_session_cookies_expire_and_are_bound_to_the_token():
    now = 1_800_000_000.0
    cookie = auth.make_session(TOKEN, now)
    assert auth.check_session(cookie, TOKEN, now + auth.SESSION_SECONDS - 1)
    assert not auth.check_session(cookie, TOKEN, now + auth.SESSION_SECONDS + 1)  # expired
    assert not auth.check_session(cookie, TOKEN + "-rotated", now)  # a new token ends every session
    assert not auth.check_session(cookie, None, now)
    expires, _, mac = cookie.partition(".")
    assert not auth.check_session(f"{int(expires) + 3600}.{mac}", TOKEN, now)  # extended by hand
    assert not auth.check_session(f"{expires}.{mac[:-1]}0", TOKEN, now)
    assert not auth.check_session("", TOKEN, now) and not auth.check_session("x.y", TOKEN, now)


def test_the_admin_token_is_never_printed_but_reaches_worker_processes(monkeypatch, tmp_path):
    from streams.demo import WorkerProcess, _env_value
    from streams.settings import load_settings

    monkeypatch.setenv("DISTILLWATCH_ADMIN_TOKEN", TOKEN)
    out = subprocess.run([sys.executable, "-m", "streams.cli", "settings"], capture_output=True, text=True,
                         env={**os.environ}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert TOKEN not in out.stdout + out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("DISTILLWATCH_ADMIN_TOKEN "))
    assert "= ***" in line
    settings = load_settings()
    assert TOKEN not in repr(settings) and settings.admin_secret() == TOKEN
    assert _env_value(WorkerProcess(settings, tmp_path / "w.log")._setting_env()["admin_token"]) == TOKEN


def test_token_settings_are_validated(monkeypatch, tmp_path):
    from streams.settings import SettingsError, load_settings

    f = tmp_path / "token"
    f.write_text(f"  {TOKEN}\n")
    assert load_settings(admin_token_file=str(f)).admin_secret() == TOKEN
    with pytest.raises(SettingsError, match="only one of"):
        load_settings(admin_token_file=str(f), admin_token="x")
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(admin_token_file=str(tmp_path / "missing"))
    f.write_text("\n")
    with pytest.raises(SettingsError, match="empty"):
        load_settings(admin_token_file=str(f)).admin_secret()
    assert load_settings().admin_secret() is None
    monkeypatch.setenv("DISTILLWATCH_ALERTMANAGER_URL", "alertmanager:9093")
    with pytest.raises(SettingsError, match="DISTILLWATCH_ALERTMANAGER_URL: 'alertmanager:9093' is not an http"):
        load_settings()


# -- integration: one worker with harvesters among ordinary accounts -------------------


@pytest.fixture(scope="module")
def oncall(kafka_bootstrap, tmp_path_factory):
    from tests.conftest import RunningWorker, unique_settings

    d = tmp_path_factory.mktemp("oncall")
    token_file = d / "admin-token"
    token_file.write_text(TOKEN + "\n")
    s = unique_settings(kafka_bootstrap, d, web_enabled=True, admin_token_file=token_file)
    w = RunningWorker(s, d / "worker.log").start()
    try:
        start = time.time() - 4 * 3600
        msgs = population(start) + harvester("acct-explain", start + 3000) + harvester(HOSTILE, start + 3000)
        msgs.sort(key=lambda kv: orjson.loads(kv[1])["timestamp"])
        produce(kafka_bootstrap, s.input_topic, msgs)
        wanted = {"acct-explain", HOSTILE}
        records = consume(kafka_bootstrap, s.alerts_topic, timeout=180,
                          until=lambda r: wanted <= {orjson.loads(m.value)["account_id"] for m in r})
        alerts = [orjson.loads(m.value) for m in records]
        assert wanted <= {a["account_id"] for a in alerts}, w.proc.log_tail()
        # the explain view reads the table: wait until the worker has processed everything
        _wait_metric(s, 'distillwatch_events_total{outcome="valid"}', len(msgs))
        yield dict(settings=s, worker=w, alerts=alerts, token_file=token_file, dir=d)
    finally:
        w.stop()


def _wait_metric(s, name: str, at_least: float, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        text = urllib.request.urlopen(f"http://127.0.0.1:{s.web_port}/metrics", timeout=10).read().decode()
        value = next((float(x.rpartition(" ")[2]) for x in text.splitlines() if x.startswith(name + " ")), 0.0)
        if value >= at_least:
            return
        assert time.monotonic() < deadline, f"{name} = {value} < {at_least}"
        time.sleep(0.5)


def _http(url: str, token: str | None = None, *, accept: str = "application/json", data: bytes | None = None,
          method: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept": accept}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _explain_url(s, account: str) -> str:
    return f"http://127.0.0.1:{s.web_port}/explain/{quote(account, safe='')}"


@pytest.mark.integration
def test_explain_needs_the_token_and_metrics_stay_open(oncall):
    s = oncall["settings"]
    url = _explain_url(s, "acct-explain")
    status, headers, body = _http(url)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert _http(url, "wrong-" + TOKEN)[0] == 401
    assert _http(url, TOKEN)[0] == 200
    status, _, body = _http(url, accept="text/html")  # a browser without the token: sent to sign in
    assert status == 200 and b'name="token"' in body and b"acct-explain" in body
    assert _http(f"http://127.0.0.1:{s.web_port}/metrics")[0] == 200
    assert _http(f"http://127.0.0.1:{s.web_port}/healthz")[0] == 200
    status, _, body = _http(f"http://127.0.0.1:{s.web_port}/labels", data=b"{}", method="POST")
    assert status == 401


@pytest.mark.integration
def test_explain_json_shows_score_signals_against_the_population_and_the_timeline(oncall):
    s = oncall["settings"]
    status, headers, body = _http(_explain_url(s, "acct-explain"), TOKEN)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    doc = orjson.loads(body)
    assert doc["account_id"] == "acct-explain" and doc["events"] == 150
    assert doc["score"] >= 0.82 and doc["severity"] == "critical"
    assert doc["episode"]["severity"] == "critical"
    signals = {r["signal"]: r for r in doc["signals"]}
    assert "reasoning_elicitation" in signals
    base = signals["reasoning_elicitation"]["baseline"]
    assert set(base) == {"median", "p90", "p99"} and base["median"] < signals["reasoning_elicitation"]["value"]
    assert doc["features"]["elicitation_share"] == 1.0
    opened = next(a for a in oncall["alerts"] if a["account_id"] == "acct-explain" and a["status"] == "opened")
    assert doc["alerts"][-1]["alert_id"] == opened["alert_id"]  # the timeline, newest first
    assert doc["episode"]["episode_id"] == opened["episode_id"]
    assert doc["cluster"] is None
    # the rate-limit decisions on this account (tests/test_actions*.py cover what they are): the critical
    # episode asked for one, and the history says what became of it
    acted = doc["actions"]
    assert acted and acted[0]["action"] in ("throttle", "block") and acted[0]["alert_id"] in {
        a["alert_id"] for a in oncall["alerts"] if a["account_id"] == "acct-explain"}
    assert acted[0]["outcome"].split()[0] in ("shadow", "enforced", "allowlisted", "halted", "paused")

    status, _, body = _http(_explain_url(s, "acct-nobody"), TOKEN)
    assert status == 404 and orjson.loads(body) == {"error": "unknown account", "account_id": "acct-nobody"}


@pytest.mark.integration
def test_explain_page_in_headless_chromium_shows_the_evidence_and_escapes_the_account(oncall):
    from tests.browser import Browser

    s = oncall["settings"]
    browser = Browser(oncall["dir"])
    try:
        browser.set_headers({"Authorization": f"Bearer {TOKEN}"})
        browser.get(_explain_url(s, "acct-explain"))
        text = browser.js("return document.body.innerText")
        assert "Account acct-explain" in text
        assert browser.js("return document.getElementById('severity').textContent") == "critical"
        score = float(browser.js("return document.getElementById('score').textContent"))
        assert score >= 0.82
        rows = browser.js(
            "return Array.from(document.querySelectorAll('table')[0].rows).map(r => "
            "Array.from(r.cells).map(c => c.textContent))"
        )
        assert rows[0][:7] == ["signal", "what", "account", "counts from", "median", "p90", "p99"]
        elicitation = next(r for r in rows if r[0] == "reasoning_elicitation")
        assert float(elicitation[2]) == 1.0 and all(x != "–" for x in elicitation[4:7])  # baselines shown
        assert "Alert timeline" in text and "opened" in text

        browser.get(_explain_url(s, HOSTILE))
        assert browser.js("return document.getElementById('account').textContent") == HOSTILE
        assert browser.js("return document.scripts.length") == 0
        assert browser.js("return document.title") == f"distillwatch: {HOSTILE}"

        # no header: a browser following an alert's link is sent to sign in, then comes back to the page
        browser.set_headers({})
        browser.get(_explain_url(s, HOSTILE) + "?format=html")
        assert browser.js("return location.pathname") == "/login"
        sign_in = "document.querySelector('input[name=token]').value = arguments[0]; document.forms[0].submit()"
        browser.js(sign_in.replace("arguments[0]", json.dumps("wrong")))
        time.sleep(0.5)
        assert "missing or wrong bearer token" in browser.js("return document.body.innerText")
        assert browser.js("return document.cookie") == ""
        browser.js(sign_in.replace("arguments[0]", json.dumps(TOKEN)))
        for _ in range(40):
            if browser.js("return location.pathname").startswith("/explain/"):
                break
            time.sleep(0.25)
        assert browser.js("return document.getElementById('account').textContent") == HOSTILE
        assert browser.js("return document.cookie") == ""  # HttpOnly: page scripts cannot read the session
        browser.get(_explain_url(s, "acct-explain"))  # the session cookie now opens any explain page
        assert browser.js("return document.getElementById('account').textContent") == "acct-explain"
    finally:
        browser.close()


@pytest.mark.integration
def test_labels_endpoint_writes_a_valid_label_to_the_topic(oncall, kafka_bootstrap):
    s = oncall["settings"]
    url = f"http://127.0.0.1:{s.web_port}/labels"
    body = orjson.dumps({"account_id": "acct-explain", "label": "abusive", "analyst": "oncall-1", "note": "confirmed"})
    status, _, resp = _http(url, TOKEN, data=body, method="POST")
    assert status == 202, resp
    bad = orjson.dumps({"account_id": "acct-explain", "label": "maybe", "analyst": "oncall-1"})
    status, _, resp = _http(url, TOKEN, data=bad, method="POST")
    assert status == 400 and b"label: must be 'abusive' or 'benign'" in resp
    assert _http(url, "nope", data=body, method="POST")[0] == 401
    records = consume(kafka_bootstrap, s.labels_topic, until=lambda r: len(r) >= 1, timeout=60)
    assert len(records) == 1 and records[0].key == b"acct-explain"
    label = orjson.loads(records[0].value)
    assert {k: label[k] for k in ("account_id", "label", "analyst", "note")} == {
        "account_id": "acct-explain", "label": "abusive", "analyst": "oncall-1", "note": "confirmed"}
    _wait_metric(s, 'distillwatch_analyst_labels_total{outcome="abusive"}', 1)  # the worker learned it


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


@pytest.mark.integration
def test_cli_explain_prints_the_evidence_and_label_produces_to_the_topic(oncall, kafka_bootstrap):
    s = oncall["settings"]
    base = f"http://127.0.0.1:{s.web_port}"
    env = {"DISTILLWATCH_ADMIN_TOKEN_FILE": str(oncall["token_file"])}
    out = _cli("explain", "acct-explain", "--url", base, env=env)
    assert out.returncode == 0, out.stderr
    assert "acct-explain" in out.stdout and "critical" in out.stdout
    assert "reasoning_elicitation" in out.stdout and "median" in out.stdout
    out = _cli("explain", "acct-explain", "--url", base, "--json", env=env)
    assert out.returncode == 0 and json.loads(out.stdout)["account_id"] == "acct-explain"
    out = _cli("explain", "acct-nobody", "--url", base, env=env)
    assert out.returncode == 1 and "unknown account" in out.stderr
    out = _cli("explain", "acct-explain", "--url", base, env={"DISTILLWATCH_ADMIN_TOKEN": "s3cr3t-guess"})
    assert out.returncode == 1 and "401" in out.stderr and "s3cr3t-guess" not in out.stderr
    out = _cli("explain", "acct-explain", "--url", "http://127.0.0.1:1", env=env)
    assert out.returncode == 1 and "cannot reach" in out.stderr

    env = {"DISTILLWATCH_BROKER": kafka_bootstrap, "DISTILLWATCH_LABELS_TOPIC": s.labels_topic}
    out = _cli("label", HOSTILE, "abusive", "--note", "same template as acct-explain", "--analyst", "jd", env=env)
    assert out.returncode == 0, out.stderr
    out = _cli("label", "acct-x", "benign", "--note", "n", "--analyst", "", env=env)
    assert out.returncode == 2 and "analyst" in out.stderr
    records = consume(kafka_bootstrap, s.labels_topic,
                      until=lambda r: any(m.key == HOSTILE.encode() for m in r), timeout=60)
    mine = [orjson.loads(m.value) for m in records if m.key == HOSTILE.encode()]
    assert len(mine) == 1 and mine[0]["label"] == "abusive" and mine[0]["analyst"] == "jd"
    assert mine[0]["note"] == "same template as acct-explain"
    assert not any(m.key == b"acct-x" for m in records)


@pytest.mark.integration
def test_admin_endpoints_answer_403_when_no_token_is_configured(worker_factory):
    s = worker_factory(web_enabled=True).settings
    status, _, body = _http(_explain_url(s, "acct-explain"), TOKEN)
    assert status == 403 and orjson.loads(body)["error"] == auth.DISABLED_MESSAGE
    status, _, body = _http(f"http://127.0.0.1:{s.web_port}/labels", TOKEN, data=b"{}", method="POST")
    assert status == 403
    assert _http(_explain_url(s, "acct-explain"), accept="text/html")[0] == 403  # no sign-in page either
    assert _http(f"http://127.0.0.1:{s.web_port}/login")[0] == 403


@pytest.mark.integration
def test_any_worker_answers_for_any_account_by_routing_to_its_owner(kafka_bootstrap, tmp_path):
    """Two workers share the partitions; each answers for every account, from the account's owner."""
    from tests.conftest import RunningWorker, unique_settings

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    s1 = unique_settings(kafka_bootstrap, tmp_path, web_enabled=True, admin_token_file=token_file)
    s2 = s1.with_overrides(web_port=free_port(), datadir=tmp_path / "data2")
    workers = [RunningWorker(s1, tmp_path / "w1.log").start(), RunningWorker(s2, tmp_path / "w2.log").start()]
    try:
        start = time.time() - 3 * 3600
        accounts = [f"acct-route-{i}" for i in range(12)]
        # the group needs a moment to split the partitions between the two workers
        deadline = time.monotonic() + 60
        msgs = [kv for a in accounts for kv in harvester(a, start, hot=20)]
        produce(kafka_bootstrap, s1.input_topic, msgs)
        owners: dict[str, set[str]] = {}
        answered = 0
        while time.monotonic() < deadline:
            owners, answered = {}, 0
            for a in accounts:
                for s in (s1, s2):
                    status, _, body = _http(_explain_url(s, a), TOKEN)
                    if status == 200:
                        doc = orjson.loads(body)
                        assert doc["account_id"] == a and doc["events"] <= 20
                        if doc["events"] < 20:
                            continue  # the owner is still working through the account's events
                        owners.setdefault(a, set()).add(doc["served_by"])
                        answered += 1
            served = {u for urls in owners.values() for u in urls}
            if answered == 2 * len(accounts) and all(len(u) == 1 for u in owners.values()) and len(served) == 2:
                break
            time.sleep(1)
        assert answered == 2 * len(accounts), "some accounts were not answered by both workers"
        assert all(len(urls) == 1 for urls in owners.values()), f"an account answered by two workers: {owners}"
        assert {u for urls in owners.values() for u in urls} == {
            f"http://127.0.0.1:{s1.web_port}", f"http://127.0.0.1:{s2.web_port}"}
    finally:
        for w in workers:
            w.stop()
