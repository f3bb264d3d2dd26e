"""Bearer-token check for the worker's admin endpoints (explain view, labels).

The explain view shows per-account data and ``POST /labels`` teaches the
models, so both need ``Authorization: Bearer <token>`` with the token from
``DISTILLWATCH_ADMIN_TOKEN`` or ``DISTILLWATCH_ADMIN_TOKEN_FILE``. Without a
configured token they are closed (403), never open: a forgotten setting must
not publish account data. ``/metrics`` and ``/healthz`` stay open.

A browser cannot add a header to a link it follows (the explain link in an
Alertmanager alert), so the explain view also takes a session cookie that
``/login`` sets after the token has been typed in once: it holds an expiry
and an HMAC-SHA256 of it keyed with the admin token, so nothing is stored on
the server, every worker can check it, and changing the token ends every
session.

>>> check_bearer("Bearer s3cret", "s3cret") is None
True
>>> check_bearer("Bearer wrong", "s3cret").status
401
>>> check_bearer("Bearer s3cret", None).status
403
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

__all__ = ["Denied", "check_bearer", "make_session", "check_session", "DISABLED_MESSAGE", "SESSION_COOKIE",
           "SESSION_SECONDS"]

DISABLED_MESSAGE = "admin endpoints disabled: set DISTILLWATCH_ADMIN_TOKEN"
SESSION_COOKIE = "distillwatch_session"
#: A session lasts one on-call shift.
SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Denied:
    """Why a request is refused: the HTTP status, a message, and headers to send."""

    status: int
    message: str

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="distillwatch"'} if self.status == 401 else {}


def check_bearer(authorization: str | None, token: str | None) -> Denied | None:
    """None when ``authorization`` carries ``token``, else why not.

    The comparison is :func:`hmac.compare_digest` (constant time in the
    token's content), so response timing does not reveal how much of a guess
    was right.
    """
    if token is None:
        return Denied(403, DISABLED_MESSAGE)
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return Denied(401, "missing or wrong bearer token")
    return None


def _session_mac(token: str, expires: int) -> str:
    return hmac.new(token.encode(), f"distillwatch-session:{expires}".encode(), hashlib.sha256).hexdigest()


def make_session(token: str, now: float) -> str:
    """A session cookie value valid for :data:`SESSION_SECONDS` from ``now``."""
    expires = int(now) + SESSION_SECONDS
    return f"{expires}.{_session_mac(token, expires)}"


def check_session(value: str | None, token: str | None, now: float) -> bool:
    """Whether ``value`` is an unexpired session made with ``token`` (constant-time MAC comparison)."""
    if not token or not value:
        return False
    expires, _, mac = value.partition(".")
    if not expires.isdigit() or int(expires) < now:
        return False
    return hmac.compare_digest(mac.encode(), _session_mac(token, int(expires)).encode())
