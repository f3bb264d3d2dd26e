"""Per-event state updates and the feature vector read from the state.

:func:`absorb` is the O(1) per-event update; :func:`features` turns a state
into named, interpretable numbers at scoring time. Both are pure functions of
their arguments (event time only, no clock).

>>> from detectors.contract import Event
>>> from detectors.state import AccountState
>>> s = AccountState("acct-1")
>>> for i in range(10):
...     absorb(s, Event(request_id=f"r{i}", ts=1_800_000_000.0 + 6 * i, account_id="acct-1",
...                     model="m", status_code=200, input_tokens=50, output_tokens=900,
...                     messages_count=1, prompt_text="Explain step by step why ..."))
>>> f = features(s)
>>> f["elicitation_share"], f["single_turn_share"], round(f["output_input_ratio"], 1)
(1.0, 1.0, 17.6)
>>> round(f["rate_per_min_10m"], 1)  # ten requests in 54 s, decayed over a 10-minute horizon
1.0
"""

from __future__ import annotations

import math

from .contract import Event
from .state import (
    N_PROFILE,
    P_5XX,
    P_429,
    P_ELICIT,
    P_IN,
    P_LENGTH,
    P_LOGPROBS,
    P_LOGPROBS_LONG,
    P_MULTI_N,
    P_OUT,
    P_SINGLE,
    P_TOOLS,
    PROFILE_WINDOW,
    RATE_HORIZONS,
    AccountState,
)
from .text import elicits_reasoning

__all__ = ["absorb", "features", "FEATURE_NAMES", "LONG_OUTPUT_TOKENS"]

#: A completion at least this long makes logprobs on it look like harvesting
#: (multiple-choice evals ask for logprobs on 1-5 tokens).
LONG_OUTPUT_TOKENS = 256

_EXP = math.exp
_LOG = math.log
_MIN_ALPHA = 1.0 / PROFILE_WINDOW
_TAUS = RATE_HORIZONS


def absorb(state: AccountState, ev: Event) -> None:
    """Fold one (already de-duplicated) event into ``state``."""
    ts = ev.ts
    n = state.n
    last = state.last_ts
    rates = state.rates
    if n == 0:
        state.first_ts = ts
        state.last_ts = ts
        for i in range(len(rates)):
            rates[i] = 1.0
    else:
        dt = ts - last
        if dt > 0.0:
            for i, tau in enumerate(_TAUS):
                rates[i] = rates[i] * _EXP(-dt / tau) + 1.0
            # inter-arrival gap statistics on a log scale (robust to bursts)
            g = _LOG(dt + 1e-3)
            a = 1.0 / n if n < PROFILE_WINDOW else _MIN_ALPHA
            d = g - state.gap_mean
            state.gap_mean += a * d
            state.gap_var = (1.0 - a) * (state.gap_var + a * d * d)
            state.last_ts = ts
        else:  # same instant, or out of order: count it at today's decay level
            for i in range(len(rates)):
                rates[i] += 1.0
    n += 1
    state.n = n

    out = ev.output_tokens or 0
    logprobs = 1.0 if (ev.logprobs or (ev.top_logprobs or 0) > 0) else 0.0
    mc = ev.messages_count
    x = (
        float(ev.input_tokens or 0),
        float(out),
        1.0 if mc == 1 else 0.0,  # unknown depth is no evidence
        1.0 if elicits_reasoning(ev.prompt_text) else 0.0,
        logprobs,
        logprobs if out >= LONG_OUTPUT_TOKENS else 0.0,
        1.0 if (ev.n or 1) > 1 else 0.0,
        1.0 if ev.finish_reason == "length" else 0.0,
        1.0 if ev.status_code == 429 else 0.0,
        1.0 if ev.status_code >= 500 else 0.0,
        1.0 if (ev.tools_count or 0) > 0 else 0.0,
    )
    a = 1.0 / n if n < PROFILE_WINDOW else _MIN_ALPHA
    p = state.profile
    for i in range(N_PROFILE):
        p[i] += a * (x[i] - p[i])


#: Names of the features, in the order :func:`features` returns them.
FEATURE_NAMES = (
    "events",
    "rate_per_min_1m",
    "rate_per_min_10m",
    "rate_per_min_1h",
    "rate_per_min_1d",
    "burst_ratio",
    "mean_input_tokens",
    "mean_output_tokens",
    "output_input_ratio",
    "single_turn_share",
    "elicitation_share",
    "logprobs_share",
    "logprobs_long_share",
    "multi_n_share",
    "finish_length_share",
    "rate_limited_share",
    "error_share",
    "tools_share",
    "timing_regularity",
    "active_hours",
)


def features(state: AccountState, now: float | None = None) -> dict[str, float]:
    """The account's feature vector, as of event time ``now`` (default: its last event).

    Rates are requests per minute over each horizon of
    :data:`~detectors.state.RATE_HORIZONS` (a decayed count divided by the
    horizon, so an account younger than the horizon is not inflated).
    ``timing_regularity`` is ``1 / (1 + sd)`` of the log inter-arrival gap:
    near 1 for a metronome, about 0.4 for Poisson arrivals, lower for bursts.
    """
    last = state.last_ts
    if now is None or not now > last:
        decay = [1.0] * len(RATE_HORIZONS)
    else:
        decay = [_EXP(-(now - last) / tau) for tau in RATE_HORIZONS]
    per_min = [c * d * 60.0 / tau for c, d, tau in zip(state.rates, decay, RATE_HORIZONS)]
    p = state.profile
    n = state.n
    span = (last - state.first_ts) if n else 0.0
    return {
        "events": float(n),
        "rate_per_min_1m": per_min[0],
        "rate_per_min_10m": per_min[1],
        "rate_per_min_1h": per_min[2],
        "rate_per_min_1d": per_min[3],
        "burst_ratio": per_min[0] / per_min[2] if per_min[2] > 0 else 0.0,
        "mean_input_tokens": p[P_IN],
        "mean_output_tokens": p[P_OUT],
        "output_input_ratio": p[P_OUT] / (p[P_IN] + 1.0),
        "single_turn_share": p[P_SINGLE],
        "elicitation_share": p[P_ELICIT],
        "logprobs_share": p[P_LOGPROBS],
        "logprobs_long_share": p[P_LOGPROBS_LONG],
        "multi_n_share": p[P_MULTI_N],
        "finish_length_share": p[P_LENGTH],
        "rate_limited_share": p[P_429],
        "error_share": p[P_5XX],
        "tools_share": p[P_TOOLS],
        "timing_regularity": 1.0 / (1.0 + math.sqrt(state.gap_var)) if n > 2 else 0.0,
        "active_hours": span / 3600.0,
    }
