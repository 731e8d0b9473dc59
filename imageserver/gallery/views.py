"""The gallery's pages: `/gallery` (loaded directories) and `/gallery/<id>` (its thumbnails).

Server-rendered with Jinja; `static/gallery.js` does the rest in the browser (countdowns,
the virtualised grid, copy buttons) and `static/gallery.css` the layout. Every answer of the
blueprint carries a strict Content-Security-Policy: scripts, styles and fonts from this
origin only, nothing inline, images from this origin (or `IMAGE_SERVER_PUBLIC_URL`, whose
URLs the listing hands out). With `IMAGE_SERVER_TOKEN` set, a page without a valid session
is the sign-in form and names nothing.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlsplit

from flask import Blueprint
from flask import Response
from flask import redirect
from flask import render_template
from flask import request

from imageserver.gallery import api
from imageserver.security.tokens import token_matches
from imageserver.settings.config import Config
from imageserver.state import timers
from imageserver.variants.presets import PRESET_NAMES
from imageserver.web import session
from imageserver.web.context import services
from imageserver.web.routes.payloads import shown_path
from imageserver.web.video_loading import extraction_of

bp = Blueprint(
    "gallery",
    __name__,
    url_prefix="/gallery",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
bp.register_blueprint(api.bp)

# Presets offered for the "preset URL" copy button; `thumb` is what the grid itself shows.
COPY_PRESETS = tuple(name for name in PRESET_NAMES if name != "thumb")
DEFAULT_PRESET = "claude" if "claude" in COPY_PRESETS else COPY_PRESETS[0]


def content_security_policy(config: Config) -> str:
    """Return the CSP of every gallery answer: no inline code, nothing from other sites."""
    images = "'self'"
    if config.public_url:
        parts = urlsplit(config.public_url)
        images += f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


@bp.after_request
def _page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy(services().config)
    response.headers["Referrer-Policy"] = "no-referrer"  # signed URLs stay out of Referer
    response.headers["X-Frame-Options"] = "DENY"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"  # pages show live state (and names)
    return response


def _page_context() -> tuple[Config, bool, str]:
    """Return the config, whether the visitor may see the gallery, and its CSRF token."""
    config = services().config
    if not config.tokens:
        return config, True, ""
    current = session.read_session(request, config.tokens)
    return config, current is not None, current["csrf"] if current else ""


def _sign_in_page(error: str = "", status: HTTPStatus = HTTPStatus.OK) -> tuple[str, int]:
    target = _safe_next(request.full_path if request.method == "GET" else request.form.get("next"))
    return render_template("gallery/signin.html", next=target, error=error), status


def _safe_next(target: str | None) -> str:
    # Only a gallery page of this server: never an open redirect to another host.
    target = (target or "").rstrip("?")
    if target.startswith("/gallery") and not target.startswith("//") and "\\" not in target:
        return target
    return "/gallery"


def extraction_text(extraction: dict | None) -> str | None:
    """A video's extraction in words (the script words its updates alike, gallery.js)."""
    if extraction is None:
        return None
    frames = f"{extraction['frames']} frames"
    if extraction["state"] == "failed":
        return f"failed after {frames}: {extraction.get('detail')}"
    if extraction["state"] == "done":
        return f"done: {frames}"
    duration = extraction["duration"]
    of = f" of {duration:.0f}" if duration else ""
    return f"extracting: {frames}, {extraction['seconds_done']:.0f}{of} s"


@bp.get("")
def directories_page() -> str | tuple[str, int]:
    """Render the loaded directories with their countdowns, unload and re-arm buttons."""
    config, allowed, csrf = _page_context()
    if not allowed:
        return _sign_in_page()
    svc = services()
    now = svc.clock()
    current = svc.registry.current_id()
    rows = [
        {
            "id": d.id,
            "path": None if config.hide_paths else shown_path(config, d),
            "image_count": d.image_count,
            "current": d.id == current,
            "timeout_minutes": d.timeout_minutes,
            "remaining": None if d.deadline is None else max(0, int(d.deadline - now)),
            "remaining_text": timers.format_remaining(d.deadline, now),
            "extraction": extraction_text(extraction_of(svc, d)),
        }
        for d in svc.registry.all()
    ]
    return render_template(
        "gallery/index.html", directories=rows, csrf=csrf, locked=bool(config.tokens)
    )


@bp.get("/<dir_id>")
def directory_page(dir_id: str) -> str | tuple[str, int]:
    """Render one directory's grid; the script pages its thumbnails in from the listing API."""
    config, allowed, csrf = _page_context()
    if not allowed:
        return _sign_in_page()
    directory = services().registry.get(dir_id)
    if directory is None:
        page = render_template("gallery/missing.html", dir_id=dir_id, locked=bool(config.tokens))
        return page, HTTPStatus.NOT_FOUND
    return render_template(
        "gallery/directory.html",
        directory=directory,
        extraction=extraction_of(services(), directory),
        extraction_text=extraction_text(extraction_of(services(), directory)),
        path=None if config.hide_paths else directory.path,
        csrf=csrf,
        locked=bool(config.tokens),
        presets=COPY_PRESETS,
        default_preset=DEFAULT_PRESET,
    )


@bp.post("/login")
def sign_in() -> Response | tuple[str, int]:
    """Trade the token typed in the form for the session cookie, then go back to the page.

    A wrong token gets the form again with 401, and no cookie.
    """
    config = services().config
    if not config.tokens:
        return redirect(_safe_next(request.form.get("next")), HTTPStatus.SEE_OTHER)
    typed = request.form.get("token", "").strip()
    if not typed or not token_matches(f"Bearer {typed}", config.tokens):
        return _sign_in_page("Wrong token.", HTTPStatus.UNAUTHORIZED)
    response = redirect(_safe_next(request.form.get("next")), HTTPStatus.SEE_OTHER)
    value = session.new_session_cookie(config.tokens)
    session.set_session_cookie(response, value, secure=request.is_secure)
    return response


@bp.post("/logout")
def sign_out() -> Response:
    """Drop the session cookie (the form carries the CSRF token, so no other site can)."""
    config = services().config
    current = session.read_session(request, config.tokens)
    response = redirect("/gallery", HTTPStatus.SEE_OTHER)
    if current is not None and session.csrf_matches(request, current, request.form.get("csrf")):
        session.clear_session_cookie(response, secure=request.is_secure)
    return response
