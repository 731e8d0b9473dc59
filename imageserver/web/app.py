"""The control API's app factory: wires configuration, state, timers, blueprints and errors.

The gallery's pages are added on top by `engines/app.py`, the one place that builds the
whole app, so this layer never imports the gallery built on it.
"""

from __future__ import annotations

import logging
import time

from flask import Flask
from flask import Response
from werkzeug.middleware.proxy_fix import ProxyFix

from imageserver.jobs.dispatch import Dispatcher
from imageserver.jobs.dispatch import limits
from imageserver.jobs.store import JobStore
from imageserver.security.hosts import default_patterns
from imageserver.settings.config import Config
from imageserver.state.registry import Registry
from imageserver.state.timers import Clock
from imageserver.state.timers import Sweeper
from imageserver.variants.service import VariantService
from imageserver.watch import leader as watch_leader
from imageserver.web import body_limit
from imageserver.web import errors
from imageserver.web import guard
from imageserver.web import jsonio
from imageserver.web import video_status
from imageserver.web.context import EXTENSION_KEY
from imageserver.web.context import Services
from imageserver.web.routes import control
from imageserver.web.routes import cors
from imageserver.web.routes import directories
from imageserver.web.routes import docs
from imageserver.web.routes import images
from imageserver.web.routes import labels
from imageserver.web.routes import public
from imageserver.web.routes import publish
from imageserver.web.routes import service
from imageserver.web.routes import uploads
from imageserver.web.routes import variants

log = logging.getLogger(__name__)


def create_api_app(
    config: Config | None = None, clock: Clock | None = None, start_sweeper: bool = True
) -> Flask:
    """Build the control API's Flask app for `config` (default: `Config.from_env()`).

    :param clock: returns epoch seconds; tests inject one to move time without sleeping.
    :param start_sweeper: run the background threads: the one that applies deadlines when
        no request comes, and this worker's candidate for the live-folder watcher.
    :raise ConfigError: a setting is invalid. :raise StateStoreError: the state is unusable.
    """
    config = config or Config.from_env()
    clock = clock or time.time
    registry = Registry.open(config, clock)
    registry.initialise()

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    # Never redirect or merge `//` silently: an odd path is a 404, not an HTML redirect page.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    jsonio.init_app(app)
    guard.init_app(app)
    errors.init_app(app)
    app.extensions[EXTENSION_KEY] = Services(
        config=config,
        registry=registry,
        clock=clock,
        variants=VariantService.for_config(config),
        default_hosts=default_patterns(config.public_url),
    )
    blueprints = (public.bp, control.bp, directories.bp, images.bp, docs.bp, variants.bp)
    for blueprint in (*blueprints, publish.bp, uploads.bp, service.bp):
        app.register_blueprint(blueprint)
    body_limit.init_app(app)
    jobs = JobStore(registry.store, clock)
    jobs.initialise()
    app.extensions[video_status.JOBS_KEY] = jobs
    body_limit.allow_larger(app, uploads.bp.name, uploads.body_limit(config))
    app.after_request(_security_headers)
    cors.init_app(app)
    labels.init_app(app)

    if config.trusted_proxies:
        hops = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    if start_sweeper:
        sweeper = Sweeper(registry.sweep, clock)
        sweeper.start()
        registry.on_deadline_armed = sweeper.poke
        app.extensions["imageserver.sweeper"] = sweeper
        app.extensions[watch_leader.WATCH_EXTENSION_KEY] = watch_leader.start(
            config, registry.store
        )
        publish.recover_jobs(app, sweeper.stopping)
        dispatcher = Dispatcher(jobs, config.database_path, limits(config.video_workers))
        dispatcher.start(sweeper.stopping)
        app.extensions[video_status.DISPATCHER_KEY] = dispatcher
    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
