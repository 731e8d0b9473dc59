"""No cross-site writes: a web page the user visits can never change the server's state.

A page's `fetch` with `Content-Type: text/plain`, `navigator.sendBeacon` and an
auto-submitted `<form>` are "simple" requests that a browser sends without a CORS preflight,
so CORS alone does not stop them. Browsers mark every such write with `Origin` (and
`Sec-Fetch-Site`); a write from an origin that is not allowed is refused before anything
runs. Clients that send neither (curl, n8n, Python scripts) are unaffected (SECURITY.md).
Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Iterable

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CORS_ORIGINS_SETTING = "IMAGE_SERVER_CORS_ORIGINS"


def own_origins(scheme: str, host_header: str | None, public_url: str | None) -> tuple[str, ...]:
    """Return this server's own origins: the one the request named, and the public URL's."""
    origins = [f"{scheme}://{host_header.strip().lower()}"] if host_header else []
    if public_url:
        origins.append(public_url.rstrip("/").lower())
    return tuple(origins)


def cross_site_refusal(
    method: str,
    origin: str | None,
    fetch_site: str | None,
    allowed: Iterable[str],
    own: Iterable[str],
) -> str | None:
    """Return why a request must be refused as a cross-site write, or None to let it through.

    `Sec-Fetch-Site` comes first: browsers set it and no script can forge it. `same-origin`
    (the gallery's own forms, which send `Origin: null` under its no-referrer policy) and
    `none` (the user typed or bookmarked it) pass. Otherwise the `Origin` must be allowed;
    a request with neither header is no browser's (curl, n8n, scripts) and passes.

    :param origin: the `Origin` header; `null` (sandboxed frames, files) is never allowed.
    :param fetch_site: the `Sec-Fetch-Site` header.
    :param allowed: `IMAGE_SERVER_CORS_ORIGINS`. :param own: `own_origins(...)`.
    """
    if method.upper() not in STATE_CHANGING_METHODS:
        return None
    site = (fetch_site or "").strip().lower()
    if site in ("same-origin", "none"):
        return None
    if origin is None:
        if site in ("cross-site", "same-site"):
            return f"Cross-site request refused; allow its origin in {CORS_ORIGINS_SETTING}"
        return None
    presented = origin.strip().rstrip("/").lower()
    if presented in {o.lower() for o in allowed} or presented in set(own):
        return None
    return (
        f"Cross-origin request from {origin.strip()} refused; "
        f"add the origin to {CORS_ORIGINS_SETTING} to allow it"
    )
