"""Reading the evaluation inputs: labels, alerts and (streamed) events.

Events are never held in memory as a whole: :func:`scan_events` reads the
file in chunks of lines, parses each line with orjson, keeps a few columns of
the chunk in a DataFrame, and folds it into per-account hourly and daily
aggregates (what the baselines need) before reading the next chunk.

What counts as an event here (deliberately simpler than the detector's full
contract validation, see ``detectors/contract.py``):

* a line that orjson parses to a JSON object with a non-empty string
  ``account_id`` and a ``timestamp`` that is Unix seconds or an RFC 3339
  string with an offset (``Z`` or ``±HH:MM``), in [2000-01-01, 2100-01-01);
* anything else is skipped and counted (``bad_json``, ``not_object``,
  ``missing_fields``, ``bad_timestamp``);
* a ``request_id`` seen before for the same account is a duplicate delivery
  and counted once (exactly: a 64-bit hash of account and request id is kept
  per event, in a sorted numpy array, not a set of strings). Lines without a
  string ``request_id`` cannot be de-duplicated and are all counted.
"""

from __future__ import annotations

import gzip
import ipaddress
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from .baselines import DAILY_COLUMNS, DAY, HOUR
from .deps import EvaluationError
from .metrics import labels_frame

__all__ = ["EventAggregates", "read_alerts", "read_labels", "scan_events", "ip_prefix"]

CHUNK_LINES = 100_000
TS_MIN = 946684800.0  # 2000-01-01T00:00:00Z
TS_MAX = 4102444800.0  # 2100-01-01T00:00:00Z
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_OFFSET_RE = r"(?:[Zz]|[+-]\d\d:\d\d)$"


def _read_jsonl_frame(path: str | os.PathLike, what: str) -> pd.DataFrame:
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise EvaluationError(f"cannot read {what} {p}: {exc.strerror}") from None
    if size == 0 or not p.read_bytes().strip():
        return pd.DataFrame()
    try:
        return pd.read_json(p, lines=True, dtype=False)
    except ValueError as exc:
        raise EvaluationError(f"{what} {p} is not JSON Lines: {exc}") from None


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """The simulator's labels file (JSON Lines of ``AccountLabel.to_dict()``), indexed by account_id."""
    df = _read_jsonl_frame(path, "labels")
    if df.empty:
        raise EvaluationError(f"labels file {path} holds no accounts")
    try:
        return labels_frame(df)
    except ValueError as exc:
        raise EvaluationError(f"labels file {path}: {exc}") from None


ALERT_COLUMNS = ("account_id", "severity", "score", "detected_at", "status")


def read_alerts(path: str | os.PathLike) -> pd.DataFrame:
    """Alerts (``docs/outputs.md``) as a frame with at least :data:`ALERT_COLUMNS`; may be empty."""
    df = _read_jsonl_frame(path, "alerts")
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ALERT_COLUMNS})
    missing = [c for c in ("account_id", "severity", "detected_at") if c not in df.columns]
    if missing:
        raise EvaluationError(f"alerts file {path} lacks field(s): {', '.join(missing)}")
    for c in ALERT_COLUMNS:
        if c not in df.columns:
            df[c] = None
    df["account_id"] = df["account_id"].astype(str)
    return df


def ip_prefix(addr: Any) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address; None when it is not one.

    >>> ip_prefix("198.51.100.7"), ip_prefix("2001:db8:1ad1:390e::7d1c"), ip_prefix("::ffff:192.0.2.9")
    ('198.51.100.0/24', '2001:db8:1ad1::/48', '192.0.2.0/24')
    >>> ip_prefix("not an ip") is None
    True
    """
    if not isinstance(addr, str):
        return None
    try:
        a = ipaddress.ip_address(addr.strip())
    except ValueError:
        return None
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    bits = 24 if a.version == 4 else 48
    return str(ipaddress.ip_network(f"{a}/{bits}", strict=False))


@dataclass
class EventAggregates:
    """What the evaluation needs from the events, per account.

    ``hourly``: ``account_id``, ``hour`` (Unix seconds // 3600), ``requests``.
    ``daily``: ``account_id``, ``day`` (Unix seconds // 86400) and
    :data:`evaluation.baselines.DAILY_COLUMNS`.
    ``accounts``: indexed by account_id: ``events``, ``first_ts``, ``last_ts``.
    ``stats``: line counts (``lines``, ``blank``, ``bad_json``,
    ``not_object``, ``missing_fields``, ``bad_timestamp``, ``duplicates``,
    ``events``), every non-blank line being exactly one of the skipped kinds,
    a duplicate or an event.
    """

    hourly: pd.DataFrame
    daily: pd.DataFrame
    accounts: pd.DataFrame
    stats: dict[str, int] = field(default_factory=dict)


class _Chunk:
    """Column lists of one chunk of parsed lines."""

    __slots__ = (
        "acct",
        "ts_num",
        "ts_str",
        "rid",
        "inp",
        "out",
        "single",
        "logprobs",
        "ngt1",
        "length",
        "s429",
        "temp",
        "ip",
        "key",
        "model",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, [])

    def __len__(self) -> int:
        return len(self.acct)


def _open(path: Path):
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise EvaluationError(f"cannot open events {path}: {exc.strerror}") from None
    if path.name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw), raw
    return raw, raw


def scan_events(
    path: str | os.PathLike,
    *,
    chunk_lines: int = CHUNK_LINES,
    progress: Callable[[int], None] | None = None,
) -> EventAggregates:
    """Stream ``path`` (``.jsonl`` or ``.jsonl.gz``) into :class:`EventAggregates`."""
    p = Path(path)
    reader, raw = _open(p)
    stats = dict(lines=0, blank=0, bad_json=0, not_object=0, missing_fields=0, bad_timestamp=0, duplicates=0, events=0)
    seen = np.empty(0, dtype=np.uint64)
    parts: dict[str, list[pd.DataFrame]] = {"hourly": [], "daily": [], "accounts": [], "ip": [], "key": [], "model": []}
    loads, JSONDecodeError = orjson.loads, orjson.JSONDecodeError
    num = (int, float)
    chunk = _Chunk()
    try:
        for line in reader:
            if not line.strip():
                stats["blank"] += 1
                continue
            stats["lines"] += 1
            try:
                d = loads(line)
            except JSONDecodeError:
                stats["bad_json"] += 1
                continue
            if type(d) is not dict:
                stats["not_object"] += 1
                continue
            acct = d.get("account_id")
            ts = d.get("timestamp")
            tts = type(ts)
            if type(acct) is not str or not acct or not (tts is str or tts is int or tts is float):
                stats["missing_fields"] += 1
                continue
            c = chunk
            c.acct.append(acct)
            if tts is str:
                c.ts_str.append(ts)
                c.ts_num.append(math.nan)
            else:
                c.ts_str.append(None)
                c.ts_num.append(ts)
            rid = d.get("request_id")
            c.rid.append(rid if type(rid) is str else None)
            u = d.get("usage")
            if type(u) is dict:
                x = u.get("input_tokens")
                c.inp.append(x if type(x) in num else None)
                x = u.get("output_tokens")
                c.out.append(x if type(x) in num else None)
            else:
                c.inp.append(None)
                c.out.append(None)
            pr = d.get("params")
            if type(pr) is dict:
                c.logprobs.append(pr.get("logprobs") is True)
                x = pr.get("n")
                c.ngt1.append(type(x) in num and x > 1)
                x = pr.get("temperature")
                c.temp.append(x if type(x) in num else None)
            else:
                c.logprobs.append(False)
                c.ngt1.append(False)
                c.temp.append(None)
            pm = d.get("prompt")
            x = pm.get("messages_count") if type(pm) is dict else None
            c.single.append(type(x) in num and x == 1)
            c.length.append(d.get("finish_reason") == "length")
            x = d.get("status_code")
            c.s429.append(type(x) in num and x == 429)
            x = d.get("client_ip")
            c.ip.append(x if type(x) is str else None)
            x = d.get("api_key_id")
            c.key.append(x if type(x) is str else None)
            x = d.get("model")
            c.model.append(x if type(x) is str else None)
            if len(c) >= chunk_lines:
                seen = _fold(chunk, seen, stats, parts)
                chunk = _Chunk()
                if progress is not None:
                    progress(stats["lines"])
        if len(chunk):
            seen = _fold(chunk, seen, stats, parts)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise EvaluationError(f"{p}: cannot read further: {exc}") from None
    finally:
        reader.close()
        raw.close()
    if progress is not None:
        progress(stats["lines"])
    return _finish(parts, stats)


def _fold(c: _Chunk, seen: np.ndarray, stats: dict[str, int], parts: dict[str, list[pd.DataFrame]]) -> np.ndarray:
    """Turn one chunk into partial aggregates; return the updated set of seen request hashes."""
    df = pd.DataFrame(
        {
            "account_id": pd.Series(c.acct, dtype=object),
            "ts": pd.Series(c.ts_num, dtype=float),
            "rid": pd.Series(c.rid, dtype=object),
            "inp": pd.Series(c.inp, dtype=float),
            "out": pd.Series(c.out, dtype=float),
            "single": pd.Series(c.single, dtype=bool),
            "logprobs": pd.Series(c.logprobs, dtype=bool),
            "ngt1": pd.Series(c.ngt1, dtype=bool),
            "length": pd.Series(c.length, dtype=bool),
            "s429": pd.Series(c.s429, dtype=bool),
            "temp": pd.Series(c.temp, dtype=float),
            "ip": pd.Series(c.ip, dtype=object),
            "key": pd.Series(c.key, dtype=object),
            "model": pd.Series(c.model, dtype=object),
        }
    )
    # timestamps: strings need an explicit offset (a naive time is not an instant)
    ts_str = pd.Series(c.ts_str, dtype=object)
    is_str = ts_str.notna()
    if is_str.any():
        s = ts_str[is_str].astype(str)
        ok = s.str.contains(_OFFSET_RE, regex=True)
        dt = pd.to_datetime(s.where(ok), utc=True, format="ISO8601", errors="coerce")
        df.loc[is_str, "ts"] = (dt - _EPOCH).dt.total_seconds()
    good = df["ts"].between(TS_MIN, TS_MAX, inclusive="left")
    stats["bad_timestamp"] += int((~good).sum())
    df = df[good]

    # duplicates: the same request id for the same account, first occurrence kept
    has_rid = df["rid"].notna()
    dup = pd.Series(False, index=df.index)
    if has_rid.any():
        keys = (df.loc[has_rid, "account_id"] + "\x1f" + df.loc[has_rid, "rid"]).to_numpy(dtype=object)
        h = pd.util.hash_array(keys)
        within = pd.Series(h).duplicated().to_numpy()
        if seen.size:
            pos = np.searchsorted(seen, h).clip(max=seen.size - 1)
            before = seen[pos] == h
        else:
            before = np.zeros(h.size, dtype=bool)
        dup.loc[has_rid] = within | before
        new = np.unique(h[~(within | before)])
        seen = np.concatenate([seen, new])
        seen.sort(kind="stable")  # two sorted runs: linear merge
    stats["duplicates"] += int(dup.sum())
    df = df[~dup.to_numpy()]
    stats["events"] += len(df)
    if df.empty:
        return seen

    df = df.assign(hour=(df["ts"] // HOUR).astype(np.int64), day=(df["ts"] // DAY).astype(np.int64))
    parts["hourly"].append(df.groupby(["account_id", "hour"], sort=False).size().rename("requests").reset_index())
    parts["accounts"].append(
        df.groupby("account_id", sort=False).agg(events=("ts", "size"), first_ts=("ts", "min"), last_ts=("ts", "max"))
    )
    parts["daily"].append(
        df.groupby(["account_id", "day"], sort=False)
        .agg(
            requests=("ts", "size"),
            inp_sum=("inp", "sum"),
            inp_n=("inp", "count"),
            out_sum=("out", "sum"),
            out_n=("out", "count"),
            single=("single", "sum"),
            logprobs=("logprobs", "sum"),
            ngt1=("ngt1", "sum"),
            length=("length", "sum"),
            s429=("s429", "sum"),
            temp_sum=("temp", "sum"),
            temp_n=("temp", "count"),
        )
        .reset_index()
    )
    ips = df["ip"].dropna().unique()
    prefixes = df["ip"].map({a: ip_prefix(a) for a in ips})
    for name, col in (("ip", prefixes), ("key", df["key"]), ("model", df["model"])):
        distinct = pd.DataFrame({"account_id": df["account_id"], "day": df["day"], "value": col}).dropna()
        parts[name].append(distinct.drop_duplicates())
    return seen


def _finish(parts: dict[str, list[pd.DataFrame]], stats: dict[str, int]) -> EventAggregates:
    if not parts["hourly"]:
        empty_daily = pd.DataFrame(
            {
                "account_id": pd.Series(dtype=object),
                "day": pd.Series(dtype=np.int64),
                **{c: pd.Series(dtype=float) for c in DAILY_COLUMNS},
            }
        )
        return EventAggregates(
            hourly=pd.DataFrame(
                {
                    "account_id": pd.Series(dtype=object),
                    "hour": pd.Series(dtype=np.int64),
                    "requests": pd.Series(dtype=np.int64),
                }
            ),
            daily=empty_daily,
            accounts=pd.DataFrame(
                {
                    "events": pd.Series(dtype=np.int64),
                    "first_ts": pd.Series(dtype=float),
                    "last_ts": pd.Series(dtype=float),
                }
            ).rename_axis("account_id"),
            stats=stats,
        )
    hourly = pd.concat(parts["hourly"]).groupby(["account_id", "hour"], sort=True)["requests"].sum().reset_index()
    acc = (
        pd.concat(parts["accounts"])
        .groupby(level=0, sort=True)
        .agg(events=("events", "sum"), first_ts=("first_ts", "min"), last_ts=("last_ts", "max"))
    )
    acc.index.name = "account_id"
    d = pd.concat(parts["daily"]).groupby(["account_id", "day"], sort=True).sum()
    req = d["requests"].astype(float)
    daily = pd.DataFrame(index=d.index)
    daily["requests"] = d["requests"].astype(np.int64)
    daily["input_tokens_mean"] = (d["inp_sum"] / d["inp_n"].where(d["inp_n"] > 0)).fillna(0.0)
    daily["output_tokens_mean"] = (d["out_sum"] / d["out_n"].where(d["out_n"] > 0)).fillna(0.0)
    daily["output_input_ratio"] = d["out_sum"] / d["inp_sum"].clip(lower=1.0)
    daily["single_turn_share"] = d["single"] / req
    daily["logprobs_share"] = d["logprobs"] / req
    daily["n_gt1_share"] = d["ngt1"] / req
    daily["length_share"] = d["length"] / req
    daily["status_429_share"] = d["s429"] / req
    for name, col in (("ip", "ip_prefixes"), ("key", "api_keys"), ("model", "models")):
        frames = parts[name]
        if frames:
            n = pd.concat(frames).drop_duplicates().groupby(["account_id", "day"]).size()
            daily[col] = n.reindex(daily.index).fillna(0).astype(np.int64)
        else:
            daily[col] = 0
    daily["temperature_mean"] = d["temp_sum"] / d["temp_n"].where(d["temp_n"] > 0)  # NaN: none given
    daily = daily.reset_index()[["account_id", "day", *DAILY_COLUMNS]]
    return EventAggregates(hourly=hourly, daily=daily, accounts=acc, stats=stats)
