"""Tests of the synthetic traffic generator (``simulator/``)."""

from __future__ import annotations

import collections
import gzip
import math
import re
from datetime import datetime

import orjson
import pytest

from simulator import AccountLabel, Scenario, accounts, generate, write_file
from simulator.archetypes import ARCHETYPES, HARVESTERS, HEAVY
from simulator.generate import DUPLICATE, INVALID, VALID, build, stream

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DOC_V4 = ("192.0.2.", "198.51.100.", "203.0.113.")

_OPTIONAL = {
    "api_key_id": str, "user_id": str, "client_ip": str, "user_agent": str, "endpoint": str,
    "finish_reason": str, "conversation_id": str,
}
_NESTED = {
    "usage": {"input_tokens": "uint", "output_tokens": "uint", "reasoning_tokens": "uint"},
    "params": {"temperature": "num", "top_p": "num", "max_tokens": "pint", "n": "pint", "logprobs": "bool",
               "top_logprobs": "uint", "stream": "bool", "seed": "int", "tools_count": "uint",
               "response_format": "str"},
    "prompt": {"messages_count": "pint", "text": "str", "system_sha256": "str"},
}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ok(kind: str, v) -> bool:
    if kind == "uint":
        return _is_int(v) and v >= 0
    if kind == "pint":
        return _is_int(v) and v >= 1
    if kind == "int":
        return _is_int(v)
    if kind == "num":
        return (_is_int(v) or isinstance(v, float)) and math.isfinite(v) and v >= 0
    if kind == "bool":
        return isinstance(v, bool)
    return isinstance(v, str)


def _ts_seconds(v) -> float:
    if isinstance(v, float | int) and not isinstance(v, bool):
        return float(v)
    assert isinstance(v, str) and RFC3339.match(v), v
    return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()


def check_event(raw: bytes) -> dict:
    """A small independent checker of contract v1; raises AssertionError when invalid."""
    d = orjson.loads(raw)
    assert isinstance(d, dict)
    for f in ("request_id", "account_id"):
        assert isinstance(d.get(f), str) and 1 <= len(d[f]) <= 128, f
    assert isinstance(d.get("model"), str) and d["model"]
    assert _is_int(d.get("status_code")) and 100 <= d["status_code"] <= 599
    assert "timestamp" in d
    _ts_seconds(d["timestamp"])
    for f, typ in _OPTIONAL.items():
        if f in d:
            assert isinstance(d[f], typ), f
    if "latency_ms" in d:
        assert _ok("num", d["latency_ms"])
    for obj, fields in _NESTED.items():
        if obj in d:
            assert isinstance(d[obj], dict), obj
            for f, kind in fields.items():
                if f in d[obj]:
                    assert _ok(kind, d[obj][f]), f"{obj}.{f}={d[obj][f]!r}"
    return d


def _valid(raw: bytes) -> bool:
    try:
        check_event(raw)
        return True
    except (AssertionError, orjson.JSONDecodeError, ValueError, TypeError):
        return False


# ---------------------------------------------------------------- fixtures

DAY = Scenario(seed=5, hours=24.0, scale=0.3)
HARVEST_CHASERS = ("reasoning_harvester", "hydra_member", "template_sweeper", "logprob_harvester")


@pytest.fixture(scope="module")
def day_labels():
    return {a.account_id: a for a in accounts(DAY)}


@pytest.fixture(scope="module")
def day(day_labels):
    """One pass over a simulated day at scale 0.3 (~650k events), checking every event
    against the contract and collecting what the other tests look at (keeping
    the events themselves would cost ~400 MB)."""
    sc = DAY
    s = {"n": 0, "n_float": 0, "order_ok": True, "range_ok": True, "ts_match": True, "ips_ok": True,
         "vol": collections.Counter(), "per_arch": collections.Counter(), "done": collections.Counter(),
         "length": collections.Counter(), "new_first": None, "after": collections.Counter(),
         "after_new": collections.Counter(), "hydra_ua": collections.defaultdict(set),
         "hydra_sys": collections.defaultdict(set)}
    prev = sc.start
    for t, acct, raw in generate(sc):
        d = check_event(raw)
        s["n"] += 1
        s["order_ok"] &= prev <= t
        s["range_ok"] &= sc.start <= t <= sc.end
        prev = t
        assert d["account_id"] == acct
        ts = d["timestamp"]
        if isinstance(ts, float):
            s["n_float"] += 1
        s["ts_match"] &= abs(_ts_seconds(ts) - t) < 1e-3
        s["ips_ok"] &= d["client_ip"].startswith(DOC_V4) or d["client_ip"].startswith("2001:db8:")
        lab = day_labels[acct]
        arch = lab.archetype
        s["vol"][acct] += 1
        s["per_arch"][arch] += 1
        model = d["model"]
        if d["status_code"] == 200:
            s["done"][arch] += 1
            s["length"][arch] += d["finish_reason"] == "length"
        if model == "frontier-large-2" and s["new_first"] is None:
            s["new_first"] = t
        if s["new_first"] is not None and t > s["new_first"] + 3600 and arch in HARVEST_CHASERS:
            s["after"][arch] += 1
            s["after_new"][arch] += model == "frontier-large-2"
        if lab.network_id:
            s["hydra_ua"][lab.network_id].add(d["user_agent"])
            s["hydra_sys"][lab.network_id].add(d["prompt"]["system_sha256"])
    return s


# ---------------------------------------------------------------- determinism


def test_same_seed_is_byte_identical_and_seeds_differ():
    sc = Scenario(seed=3, hours=1.0, scale=0.1)
    a = list(generate(sc))
    b = list(generate(sc))
    assert a and a == b
    c = list(generate(Scenario(seed=4, hours=1.0, scale=0.1)))
    assert [x[2] for x in c] != [x[2] for x in a]
    assert accounts(sc) == accounts(Scenario(seed=3, hours=1.0, scale=0.1))
    assert {x.account_id for x in accounts(sc)} != {x.account_id for x in accounts(Scenario(seed=4, scale=0.1))}


# ---------------------------------------------------------------- population and labels


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_every_archetype_present_and_labels_consistent(scale):
    labels = accounts(Scenario(scale=scale))
    by_arch = collections.Counter(a.archetype for a in labels)
    assert set(by_arch) == set(ARCHETYPES)
    assert len({a.account_id for a in labels}) == len(labels)
    for a in labels:
        assert isinstance(a, AccountLabel)
        assert re.fullmatch(r"acct-[0-9a-f]{8}", a.account_id)
        assert a.heavy == (a.archetype in HEAVY)
        assert a.label == ("harvester" if a.archetype in HARVESTERS else "benign")
        assert (a.network_id is not None) == (a.archetype == "hydra_member")
        assert (a.attack_start is not None) == (a.label == "harvester")
        if a.attack_start is not None:
            assert RFC3339.match(a.attack_start)
        assert a.to_dict()["account_id"] == a.account_id
    if scale == 1.0:
        assert 280 <= len(labels) <= 400
        benign = sum(1 for a in labels if a.label == "benign")
        assert 0.78 <= benign / len(labels) <= 0.9
        nets = collections.Counter(a.network_id for a in labels if a.network_id)
        assert len(nets) >= 2 and all(20 <= n <= 60 for n in nets.values())


def test_attack_start_times():
    sc = Scenario(scale=1.0)
    for a in accounts(sc):
        if a.attack_start is None:
            continue
        t = _ts_seconds(a.attack_start)
        assert sc.start <= t <= sc.end
        if a.archetype == "compromised_key":
            assert sc.start + 0.3 * 86400 <= t <= sc.start + 0.7 * 86400
        elif a.archetype == "low_and_slow":
            assert t == sc.start
        else:
            assert t <= sc.start + 4 * 3600


# ---------------------------------------------------------------- the event stream


def test_day_order_range_and_contract(day):
    assert day["n"] > 300_000
    assert day["order_ok"]  # non-decreasing event time
    assert day["range_ok"]  # within [start, start + hours]
    assert day["ts_match"]  # the timestamp field is the yielded event time
    assert day["ips_ok"]  # documentation ranges only
    assert set(day["per_arch"]) == set(ARCHETYPES)  # every archetype sends traffic
    assert 0.15 < day["n_float"] / day["n"] < 0.25  # both timestamp forms appear


def test_day_volumes(day, day_labels):
    vol = day["vol"]
    volumes = sorted(vol.get(a, 0) for a in day_labels)
    benign = sorted(vol.get(a, 0) for a, lab in day_labels.items() if lab.label == "benign")
    p25_benign = benign[len(benign) // 4]
    p90_all = volumes[int(0.9 * len(volumes))]
    for acct, lab in day_labels.items():
        if lab.archetype == "hydra_member":
            assert 0 < vol[acct] < p25_benign, (lab, vol[acct], p25_benign)
        if lab.archetype in ("batch_job", "eval_runner"):
            assert vol[acct] >= p90_all, (lab, vol[acct], p90_all)


def test_day_behaviour_signals(day):
    """Coarse realism checks: the signals detectors rely on exist in the data."""
    rel = DAY.start + 0.4 * DAY.hours * 3600
    assert rel <= day["new_first"] <= rel + 3600
    for arch, n in day["after"].items():  # release chasing: most harvesting moved within the hour
        assert day["after_new"][arch] / n > 0.7, arch
    length, done = day["length"], day["done"]
    assert length["reasoning_harvester"] / done["reasoning_harvester"] > 0.08
    assert length["chat_app"] / done["chat_app"] < 0.05


def test_hydra_network_shares_infrastructure(day):
    assert day["hydra_ua"] and all(len(v) == 1 for v in day["hydra_ua"].values())
    assert all(len(v) <= 2 for v in day["hydra_sys"].values())


def test_request_ids_unique_without_duplicates():
    sc = Scenario(seed=9, hours=2.0, scale=0.2, duplicate_rate=0.0)
    ids = [orjson.loads(raw)["request_id"] for _, _, raw in generate(sc)]
    assert len(ids) == len(set(ids))


def test_duplicate_rate():
    sc = Scenario(seed=9, hours=2.0, scale=0.2, duplicate_rate=0.01)
    ids = collections.Counter(orjson.loads(raw)["request_id"] for _, _, raw in generate(sc))
    repeats = sum(c - 1 for c in ids.values())
    assert 0.007 < repeats / len(ids) < 0.013
    kinds = collections.Counter(k for *_, k in stream(sc))
    assert kinds[DUPLICATE] == repeats


def test_invalid_lines_are_not_valid_events():
    sc = Scenario(seed=2, hours=1.0, scale=0.2, invalid_rate=0.05)
    kinds = collections.Counter()
    for t, acct, raw, kind in stream(sc):
        kinds[kind] += 1
        if kind == INVALID:
            assert not _valid(raw), raw[:200]
            assert b"\n" not in raw
        else:
            assert _valid(raw)
    share = kinds[INVALID] / (kinds[VALID] + kinds[DUPLICATE])
    assert 0.04 < share < 0.06
    # generate() yields them too
    assert sum(1 for _, _, raw in generate(sc) if not _valid(raw)) == kinds[INVALID]


def test_detectors_contract_agrees():
    """Cross-check with the project's decoder, when it exists."""
    contract = pytest.importorskip("detectors.contract")
    sc = Scenario(seed=2, hours=2.0, scale=0.2, invalid_rate=0.02)
    n_valid = 0
    for _, _, raw, kind in stream(sc):
        if kind == INVALID:
            with pytest.raises(contract.InvalidEvent):
                contract.decode(raw)
        else:
            contract.decode(raw)
            n_valid += 1
    assert n_valid > 10_000


def test_time_shift_moves_timestamps_and_labels():
    sc = Scenario(seed=1, hours=0.5, scale=0.1)
    shift = 1_000_000.0
    first = next(stream(sc, time_shift=shift))
    assert sc.start + shift <= first[0] <= sc.end + shift
    shifted = {a.account_id: a for a in build(sc, time_shift=shift)[0]}
    for a in accounts(sc):
        if a.attack_start:
            assert _ts_seconds(shifted[a.account_id].attack_start) == pytest.approx(
                _ts_seconds(a.attack_start) + shift)


def test_scale_zero_and_validation():
    assert accounts(Scenario(scale=0.0)) == []
    assert list(generate(Scenario(scale=0.0, hours=1.0))) == []
    with pytest.raises(ValueError):
        Scenario(hours=0)
    with pytest.raises(ValueError):
        Scenario(duplicate_rate=1.5)


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.gz"])
def test_write_file_round_trip(tmp_path, name):
    sc = Scenario(seed=8, hours=0.5, scale=0.1, invalid_rate=0.01)
    seen = []
    counts = write_file(sc, tmp_path / name, progress=lambda n, t: seen.append((n, t)))
    opener = gzip.open if name.endswith(".gz") else open
    with opener(tmp_path / name, "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert lines == [raw for _, _, raw in generate(sc)]
    assert counts["events"] + counts["invalid"] == len(lines)
    assert counts["invalid"] == sum(1 for raw in lines if not _valid(raw)) > 0
    labels_path = tmp_path / "events.labels.jsonl"
    assert counts["labels_path"] == str(labels_path)
    got = [orjson.loads(x) for x in labels_path.read_bytes().splitlines()]
    assert got == [a.to_dict() for a in accounts(sc)]
    assert counts["accounts"] == len(got)
    assert seen and seen[-1][0] == counts["events"]

    other = tmp_path / "lab.jsonl"
    write_file(sc, tmp_path / ("again-" + name), labels_path=other)
    assert other.read_bytes() == labels_path.read_bytes()
