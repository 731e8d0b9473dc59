"""Bearer tokens: the one comparison that decides whether a caller holds the token."""

from __future__ import annotations

import hmac


def token_matches(authorization: str | None, tokens: tuple[str, ...]) -> bool:
    """Check an `Authorization: Bearer <token>` header against the configured tokens.

    Every token is compared, in constant time, so timing tells nothing about which matched.
    """
    if not authorization:
        return False
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return False
    candidate = presented.strip().encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(candidate, token.encode())
    return matched
