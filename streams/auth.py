"""Bearer-token check for the worker's admin endpoints (explain view, labels).

The explain view shows per-account data and ``POST /labels`` teaches the
models, so both need ``Authorization: Bearer <token>`` with the token from
``DISTILLWATCH_ADMIN_TOKEN`` or ``DISTILLWATCH_ADMIN_TOKEN_FILE``. Without a
configured token they are closed (403), never open: a forgotten setting must
not publish account data. ``/metrics`` and ``/healthz`` stay open.

>>> check_bearer("Bearer s3cret", "s3cret") is None
True
>>> check_bearer("Bearer wrong", "s3cret").status
401
>>> check_bearer("Bearer s3cret", None).status
403
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

__all__ = ["Denied", "check_bearer", "DISABLED_MESSAGE"]

DISABLED_MESSAGE = "admin endpoints disabled: set DISTILLWATCH_ADMIN_TOKEN"


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
