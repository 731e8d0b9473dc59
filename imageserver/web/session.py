"""The gallery's sign-in cookie: signed, HttpOnly, SameSite=Strict, expiring; and its CSRF token.

With `IMAGE_SERVER_TOKEN` set, the sign-in form trades the token for this cookie. The cookie
holds a random CSRF token and is signed with itsdangerous under a key derived from the
configured tokens, so every worker process verifies it, a restart keeps people signed in, and
changing the tokens signs everyone out. A request that changes state must also send the CSRF
token in `X-CSRF-Token` (the page reads it from a `<meta>` tag): another site can neither read
it nor, with SameSite=Strict, make the browser send the cookie.

Nothing here knows about routes: `web/routes/auth.py` and the gallery views both call it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Request
from flask import Response
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer

COOKIE_NAME = "imageserver_gallery"
CSRF_HEADER = "X-CSRF-Token"
# How long a sign-in lasts, in the cookie's Max-Age and in the signature check alike.
SESSION_SECONDS = 12 * 60 * 60
_SALT = "imageserver.web.session"
_KEY_LABEL = b"imageserver gallery session key v1"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _serializer(tokens: tuple[str, ...]) -> URLSafeTimedSerializer:
    # The key is a one-way function of the tokens: the cookie never reveals them, and a
    # changed token list invalidates every cookie signed under the old one.
    material = "\0".join(sorted(tokens)).encode()
    key = hmac.new(_KEY_LABEL, material, hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(key, salt=_SALT)


def new_session_cookie(tokens: tuple[str, ...]) -> str:
    """Return the signed value of a fresh session cookie (with a new CSRF token)."""
    return _serializer(tokens).dumps({"csrf": secrets.token_urlsafe(32)})


def read_session(request: Request, tokens: tuple[str, ...]) -> dict[str, Any] | None:
    """Return the verified session of `request`, or None (no cookie, forged, or expired)."""
    value = request.cookies.get(COOKIE_NAME)
    if not value or not tokens:
        return None
    try:
        data = _serializer(tokens).loads(value, max_age=SESSION_SECONDS)
    except BadSignature:  # SignatureExpired is a BadSignature too
        return None
    if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
        return None
    return data


def csrf_matches(request: Request, session: dict[str, Any], presented: str | None = None) -> bool:
    """Tell whether the request carries the session's CSRF token (header, or `presented`)."""
    candidate = presented if presented is not None else request.headers.get(CSRF_HEADER, "")
    return bool(candidate) and hmac.compare_digest(candidate.encode(), session["csrf"].encode())


def signed_in(request: Request, tokens: tuple[str, ...]) -> bool:
    """Tell whether `request` comes from a signed-in gallery page allowed to do what it asks.

    Reading (GET, HEAD) needs a valid cookie; anything else also needs the CSRF header.
    """
    session = read_session(request, tokens)
    if session is None:
        return False
    return request.method in _SAFE_METHODS or csrf_matches(request, session)


def set_session_cookie(response: Response, value: str, secure: bool) -> None:
    """Attach the session cookie: HttpOnly, SameSite=Strict, expiring, for the whole site.

    The path is `/` because the page calls the listing API under `/api/` with it.
    """
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=SESSION_SECONDS,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Strict",
    )


def clear_session_cookie(response: Response, secure: bool) -> None:
    """Remove the session cookie (sign out)."""
    response.delete_cookie(COOKIE_NAME, path="/", secure=secure, httponly=True, samesite="Strict")
