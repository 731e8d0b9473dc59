"""Signed URLs: HMAC-SHA256 over the path, the expiry and every other query parameter.

The transform parameters of a variant are signed too, and a signature verifies against the
current and the previous key, so a key can be rotated (SECURITY.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from collections.abc import Mapping
from urllib.parse import quote
from urllib.parse import urlencode

SIGNATURE_PARAM = "sig"
EXPIRY_PARAM = "exp"


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """Return the signed form of a URL's parameters: every pair but `sig`, sorted, encoded.

    Sorting makes the order of parameters irrelevant; encoding keeps a `&` or `=` inside a
    value from forging another pair.
    """
    pairs = sorted((key, value) for key, value in params if key != SIGNATURE_PARAM)
    return urlencode(pairs, quote_via=quote)


def url_signature(key: str, path: str, params: Iterable[tuple[str, str]]) -> str:
    """Return the URL-safe HMAC-SHA256 signature of a decoded path and its parameters.

    `params` holds `exp` and any transform parameters (`w`, `format`, `preset`...), so none
    of them can be changed without invalidating the signature.
    """
    message = f"{path}\n{canonical_query(params)}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_params(key: str, path: str, params: Mapping[str, str], expires: int) -> dict[str, str]:
    """Return `params` plus `exp` and `sig`, ready to be put in a URL's query string."""
    signed = {**params, EXPIRY_PARAM: str(expires)}
    signed[SIGNATURE_PARAM] = url_signature(key, path, signed.items())
    return signed


def signature_is_valid(
    keys: tuple[str, ...], path: str, params: Iterable[tuple[str, str]], now: float
) -> bool:
    """Verify a request's `exp` and `sig` over `path` and all of `params`.

    Valid when `exp` is a single whole number of epoch seconds not yet past and `sig` matches
    under any of `keys` (the current key first, then the previous one during a rotation).
    """
    pairs = list(params)
    expiries = [value for key, value in pairs if key == EXPIRY_PARAM]
    signatures = [value for key, value in pairs if key == SIGNATURE_PARAM]
    if len(expiries) != 1 or len(signatures) != 1:
        return False
    expires, signature = expiries[0], signatures[0]
    if not expires.isascii() or not expires.isdigit() or int(expires) < now or not signature:
        return False
    return any(
        hmac.compare_digest(url_signature(key, path, pairs).encode(), signature.encode())
        for key in keys
    )
