"""Run workflows under real n8n, headless, through its CLI, and read back what each node did.

One `N8n` is one isolated n8n instance: its own `N8N_USER_FOLDER` (SQLite database, settings
and encryption key), so nothing leaks between test sessions or into the user's `~/.n8n`.
Credentials and workflows go in with `import:credentials` / `import:workflow`; `execute --id`
runs a workflow in the CLI process and logs the whole run (n8n's `IRun`: every node's
items and error) as JSON. n8n writes that JSON through its logger at level `info`, on
success and on failure alike, so we keep the level at `info`, ask for the JSON log format,
and pick the run out of the log lines (`parse_run`).

The binary: `N8N_BIN`, else `<N8N_CACHE_DIR>/node_modules/.bin/n8n` (default cache
`${XDG_CACHE_HOME:-~/.cache}/imageserver-n8n`, where .ci/run installs the pinned n8n).
"""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import uuid
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from tests.support.environment import clean_env
from tests.support.parts import missing_part

N8N_BIN_ENV = "N8N_BIN"
N8N_CACHE_ENV = "N8N_CACHE_DIR"
# The same default as .ci/run's install step.
DEFAULT_CACHE_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imageserver-n8n"
)
PLACEHOLDER = "REPLACE_WITH_YOUR_CREDENTIAL"
EXECUTE_TIMEOUT_SECONDS = 180

# Everything that makes a CLI run quiet, offline and fast. Each one is a network call, a
# banner, or start-up work that a headless test run does not want.
QUIET_ENV = {
    "N8N_DIAGNOSTICS_ENABLED": "false",  # no telemetry / PostHog calls
    "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",  # no call home for new versions
    "N8N_TEMPLATES_ENABLED": "false",
    "N8N_PERSONALIZATION_ENABLED": "false",
    "N8N_HIRING_BANNER_ENABLED": "false",
    "N8N_DYNAMIC_BANNERS_ENABLED": "false",
    "N8N_AI_ENABLED": "false",
    "N8N_LICENSE_AUTO_RENEW_ENABLED": "false",
    "N8N_COMMUNITY_PACKAGES_ENABLED": "false",  # execute would otherwise scan for packages
    "N8N_RUNNERS_ENABLED": "false",  # off by default in 1.123; later versions start a runner
    "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "true",  # writes 0600, so no warning about 0644
    "N8N_PUBLIC_API_DISABLED": "true",
    "N8N_LOG_LEVEL": "info",  # the run JSON is logged at info: lower levels hide it
    "N8N_LOG_OUTPUT": "console",
    "N8N_LOG_FORMAT": "json",  # one JSON object per line: the run is found without guessing
    "EXECUTIONS_DATA_SAVE_ON_SUCCESS": "none",  # the run is read from the log, not the DB
    "NODE_OPTIONS": "--no-deprecation --max-old-space-size=1024",
    "NO_COLOR": "1",
}


class N8nError(RuntimeError):
    """An n8n CLI command failed before a workflow could run, or its output was unreadable."""


def find_n8n() -> Path | None:
    """Return the n8n executable: `$N8N_BIN`, else the one in the cache folder, else None."""
    explicit = os.environ.get(N8N_BIN_ENV)
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get(N8N_CACHE_ENV) or DEFAULT_CACHE_DIR)
    candidate = cache / "node_modules" / ".bin" / "n8n"
    return candidate if candidate.is_file() else None


def require_n8n() -> Path:
    """Return the n8n executable, or stop the test (`missing_part`: fails in CI)."""
    found = find_n8n()
    if found is None:
        missing_part(f"n8n is not installed (bash scripts/install_n8n.sh, or set {N8N_BIN_ENV})")
    return found


def new_id() -> str:
    """An id in n8n's own shape (16 alphanumerics): workflow ids longer than 16 are refused."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(16))


@dataclass
class NodeRun:
    """One run of one node: the JSON of its items per output, and its error if it failed."""

    outputs: list[list[dict[str, Any]]]
    error: dict[str, Any] | None
    status: str


@dataclass
class Execution:
    """What `n8n execute` reported: its exit code, the run's error and every node's runs.

    The run's own `status` field says `running` even for a run that ended well (n8n logs
    the run before it updates it), so `ok` is the exit code and the absence of errors.
    """

    exit_code: int
    error: dict[str, Any] | None
    nodes: dict[str, list[NodeRun]]
    raw: dict[str, Any] = field(repr=False)

    @property
    def ok(self) -> bool:
        """True when n8n exited 0 and neither the run nor any node reported an error."""
        return self.exit_code == 0 and self.error is None and not self.node_errors()

    def items(self, node: str, output: int = 0) -> list[dict[str, Any]]:
        """The JSON of every item `node` emitted on `output`, over all its runs."""
        return [
            item
            for run in self.nodes.get(node, [])
            if output < len(run.outputs)
            for item in run.outputs[output]
        ]

    def counts(self) -> dict[str, int]:
        """Items per node on its first output (the shape most assertions want)."""
        return {name: len(self.items(name)) for name in self.nodes}

    def node_errors(self) -> dict[str, str]:
        """node name -> error message, for every node run that failed."""
        return {
            name: str(run.error.get("message") or run.error)
            for name, runs in self.nodes.items()
            for run in runs
            if run.error
        }


def parse_run(run: dict[str, Any], exit_code: int = 0) -> Execution:
    """Turn n8n's `IRun` JSON (and the exit code of `n8n execute`) into an `Execution`."""
    result = run.get("data", {}).get("resultData", {})
    nodes: dict[str, list[NodeRun]] = {}
    for name, tasks in result.get("runData", {}).items():
        nodes[name] = [
            NodeRun(
                outputs=[
                    [item.get("json", {}) for item in (branch or [])]
                    for branch in (task.get("data") or {}).get("main", [])
                ],
                error=task.get("error"),
                status=task.get("executionStatus", ""),
            )
            for task in tasks
        ]
    return Execution(exit_code, result.get("error"), nodes, run)


def _run_from_log(stdout: str) -> dict[str, Any] | None:
    """Find the logged run: the last log line whose message is JSON with `data.resultData`."""
    for line in reversed(stdout.splitlines()):
        try:
            message = json.loads(line).get("message", "")
            candidate = json.loads(message) if message.startswith("{") else None
        except (ValueError, AttributeError):
            continue
        if isinstance(candidate, dict) and "resultData" in candidate.get("data", {}):
            return candidate
    return None


def prepare_workflow(
    workflow: dict[str, Any],
    credential_ids: dict[str, str],
    settings: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return a copy of `workflow` ready to import and run headless.

    Adds an `id` to execute it by (and `versionId` and `active`, which the importer needs),
    points every placeholder credential at the imported credential of the same name, and
    replaces the values of Set-node assignments (`settings`: node name -> field -> value;
    how a test aims the Settings node at its own servers).
    """
    prepared = json.loads(json.dumps(workflow))
    prepared["id"] = new_id()
    prepared.setdefault("versionId", str(uuid.uuid4()))
    prepared.setdefault("active", False)  # also NOT NULL in n8n's table: no default there
    for node in prepared["nodes"]:
        for credential in node.get("credentials", {}).values():
            # A name with no imported credential keeps its placeholder: n8n imports it and
            # shows the node's credential as missing, as it does for a user.
            if credential.get("id") == PLACEHOLDER and credential["name"] in credential_ids:
                credential["id"] = credential_ids[credential["name"]]
        replaced = (settings or {}).get(node["name"], {})
        for assignment in node["parameters"].get("assignments", {}).get("assignments", []):
            if assignment["name"] in replaced:
                assignment["value"] = replaced[assignment["name"]]
    return prepared


class N8n:
    """One isolated n8n instance (user folder) driven through its CLI."""

    def __init__(self, binary: Path, user_folder: Path, env: dict[str, str] | None = None) -> None:
        self.binary = binary
        self.user_folder = user_folder
        user_folder.mkdir(parents=True, exist_ok=True)
        self.env = {
            **clean_env(),
            **QUIET_ENV,
            "N8N_USER_FOLDER": str(user_folder),
            # A fixed key: credentials imported in plain text are encrypted with it.
            "N8N_ENCRYPTION_KEY": "imageserver-tests-only",
            **(env or {}),
        }
        self.credential_ids: dict[str, str] = {}

    def _run(self, args: tuple[str, ...], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            env=self.env,
            cwd=self.user_folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli(self, *args: str, timeout: float = EXECUTE_TIMEOUT_SECONDS) -> str:
        """Run one n8n command; return its stdout (JSON log lines), raise N8nError on failure."""
        done = self._run(args, timeout)
        if done.returncode != 0:
            raise N8nError(f"n8n {args[0]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def import_credentials(self, credentials: dict[str, tuple[str, dict[str, Any]]]) -> None:
        """Import credentials in one call: name -> (credential type, data in plain text)."""
        entries = []
        for name, (kind, data) in credentials.items():
            self.credential_ids[name] = new_id()
            entries.append(
                {"id": self.credential_ids[name], "name": name, "type": kind, "data": data}
            )
        path = self.user_folder / "credentials.json"
        path.write_text(json.dumps(entries), encoding="utf-8")
        self.cli("import:credentials", f"--input={path}")

    def import_workflows(
        self, workflows: list[dict[str, Any]], settings: dict[str, dict[str, Any]] | None = None
    ) -> list[str]:
        """Prepare (`prepare_workflow`) and import workflows in one n8n call; return their ids.

        One call for many: every n8n command pays n8n's start-up (seconds) again.
        """
        prepared = [
            prepare_workflow(workflow, self.credential_ids, settings) for workflow in workflows
        ]
        path = self.user_folder / f"workflows-{prepared[0]['id']}.json"
        path.write_text(json.dumps(prepared), encoding="utf-8")
        out = self.cli("import:workflow", f"--input={path}")
        if f"Successfully imported {len(prepared)} workflow" not in out:
            raise N8nError(f"n8n import:workflow did not import {len(prepared)}:\n{out}")
        return [workflow["id"] for workflow in prepared]

    def import_workflow(
        self, workflow: dict[str, Any], settings: dict[str, dict[str, Any]] | None = None
    ) -> str:
        """Prepare and import one workflow; return its id."""
        return self.import_workflows([workflow], settings)[0]

    def execute(self, workflow_id: str, timeout: float = EXECUTE_TIMEOUT_SECONDS) -> Execution:
        """Run an imported workflow to its end and return what every node did.

        A workflow that fails still returns an `Execution` (its `error` and `node_errors()`
        say why); N8nError means n8n did not get as far as running it.
        """
        done = self._run(("execute", f"--id={workflow_id}", "--rawOutput"), timeout)
        run = _run_from_log(done.stdout)
        if run is None:
            raise N8nError(
                f"n8n execute exited {done.returncode} without a run:\n{done.stdout}\n{done.stderr}"
            )
        return parse_run(run, done.returncode)
