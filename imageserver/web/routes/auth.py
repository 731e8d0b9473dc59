"""The one place where a control request is authorised (bearer token, SECURITY.md)."""

from __future__ import annotations

from http import HTTPStatus

from flask import request

from imageserver.security.tokens import token_matches
from imageserver.web import session as gallery_session
from imageserver.web.context import services
from imageserver.web.errors import ApiError


def require_token() -> None:
    """`before_request` hook of the control blueprints: demand the bearer token when one is set.

    A tunnel delivers every request from 127.0.0.1, so the peer address grants nothing.

    :raise ApiError 401: the token is missing or wrong.
    """
    tokens = services().config.tokens
    if not tokens or request.method == "OPTIONS":
        return
    if token_matches(request.headers.get("Authorization"), tokens):
        return
    # The gallery page calls the API with its signed session cookie (and, to change
    # anything, its CSRF header) instead of the token, which its script never sees.
    if not gallery_session.signed_in(request, tokens):
        raise ApiError(HTTPStatus.UNAUTHORIZED, "Not authenticated", {"WWW-Authenticate": "Bearer"})
