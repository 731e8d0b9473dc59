"""Schemathesis fuzzing of every operation in `/openapi.json`, against the real server.

Each run starts `python server.py` (granian) on a loopback port with a folder of real images
loaded, reads the document over HTTP, and has schemathesis generate valid (positive) and
invalid (negative) requests for every path and method. The server must never answer 5xx, and
every answer must have a documented status, media type, headers and JSON shape. It runs twice:
unlocked, then with a token and a signing key (the token is sent, so the control routes are
exercised beyond their 401).

Random names and ids would almost never hit a real file, so two in three valid image and
directory requests get the loaded folder's id and its file names (and a valid signature when
signing is on). Fuzzed requests can unload the folder; it is loaded again before such a request.
Each run prints how many requests it sent and the statuses they got.

The schemathesis pytest plugin (`schemathesis.pytest.from_fixture`) cannot be used with this
pytest (it writes `Function._nodeid`, which pytest 9 no longer has), so each operation runs as
a Hypothesis test built from `APIOperation.as_strategy`, schemathesis's public strategy API.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance
from schemathesis.checks import ignored_auth
from schemathesis.checks import missing_required_header
from schemathesis.checks import not_a_server_error
from schemathesis.checks import response_headers_conformance
from schemathesis.checks import response_schema_conformance
from schemathesis.checks import status_code_conformance
from schemathesis.schemas import APIOperation

from imageserver.security.signing import sign_params
from tests.conftest import Api
from tests.support.images import make_frames
from tests.support.images import make_image
from tests.support.server import ServerProcess

TOKEN = "fuzz-token"
SIGNING_KEY = "fuzz-signing-key"
# Per operation and generation mode (valid, invalid). Operations without inputs to vary need
# only one request; at 40, both runs together take about 30 s on two cores.
MAX_EXAMPLES = 40
# Derandomised (the seed is a hash of the test), no example database: the same requests on
# every run. No deadline: a request's time is the server's, not the generator's.
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
# Not `negative_data_rejection`: the server validates in pydantic's lax mode on purpose
# (`"yes"` is a boolean, `true` an integer), so some schema-invalid bodies are rightly taken.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
    missing_required_header,
]
# Image names that exercise percent-encoding: a space, non-ASCII, a hidden file.
ODD_NAMES = ("with space.png", "ünïcode.webp", ".hidden.gif")
MUTATING_METHODS = frozenset({"POST", "DELETE"})
SQLITE_MAX_INTEGER = 2**63 - 1
# Far in the future: the signatures the tests make must stay valid during the run.
SIGNATURE_EXPIRY = 4_000_000_000


@dataclass
class FuzzTarget:
    """One running server, the folder loaded into it, and what the fuzzing sent it."""

    mode: str
    server: ServerProcess
    folder: Path
    names: tuple[str, ...]
    headers: dict[str, str]
    signing_key: str | None
    dir_id: str = ""
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    real_value_requests: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    # True when a request may have unloaded the folder or made another directory current.
    state_changed: bool = True

    def load_folder(self) -> None:
        """(Re)load the folder and make it current, so real-value requests hit real files."""
        response = requests.post(
            self.server.url("/load-directory"),
            json={"path": str(self.folder)},
            headers=self.headers,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        self.dir_id = response.json()["id"]
        self.state_changed = False

    def with_real_values(self, case: Case, pick: int) -> Case:
        """Point an image or directory request at the loaded folder and one of its files."""
        parameters = case.path_parameters
        if "id" in parameters:
            parameters["id"] = self.dir_id
        if isinstance(case.body, dict) and isinstance(case.body.get("names"), list):
            count = len(case.body["names"])  # the data-URI batch: real names, same count
            case.body["names"] = [self.names[(pick + i) % len(self.names)] for i in range(count)]
        if "name" in parameters:
            name = self.names[pick % len(self.names)]
            parameters["name"] = name
            if self.signing_key:
                path = case.operation.path.format(id=self.dir_id, name=name)
                query = {k: v for k, v in (case.query or {}).items() if k not in ("exp", "sig")}
                case.query = sign_params(self.signing_key, path, query, SIGNATURE_EXPIRY)
        return case

    def send(self, case: Case) -> None:
        """Send one case and run the checks on its answer; remember how to reproduce a failure."""
        parameters = case.path_parameters or {}
        if parameters.get("id") == self.dir_id or parameters.get("name") in self.names:
            self.real_value_requests += 1
            if self.state_changed:
                self.load_folder()
        if case.method.upper() in MUTATING_METHODS:
            self.state_changed = True
        response = case.call(headers=self.headers, timeout=10)
        self.statuses[(case.operation.label, response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=self.headers)
        except (Exception, BaseExceptionGroup) as exc:
            # Hypothesis shrinks before it gives up, so the last failure kept is the smallest.
            curl = case.as_curl_command(headers=self.headers)
            self.failures[case.operation.label] = f"{curl}\n  -> {response.status_code}: {exc}"
            raise

    def summary(self) -> str:
        """One line: how many requests were sent, and the statuses they got."""
        by_status: Counter[int] = Counter()
        for (_, status), count in self.statuses.items():
            by_status[status] += count
        operations = len({label for label, _ in self.statuses})
        return (
            f"fuzz[{self.mode}]: {sum(self.statuses.values())} requests over {operations} "
            f"operations ({self.real_value_requests} with the real id/name), "
            f"statuses {dict(sorted(by_status.items()))}"
        )


def _write_summary(request: pytest.FixtureRequest, line: str) -> None:
    # Shown even under `-q` without `-s`: the count of requests is part of the result.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)


@pytest.fixture(params=["unlocked", "locked"])
def fuzz_target(
    request: pytest.FixtureRequest,
    server_factory: Callable[..., ServerProcess],
    tmp_path: Path,
) -> Iterator[FuzzTarget]:
    """A real server with a folder of real images loaded and current, unlocked or locked."""
    root = tmp_path / "root"
    folder = root / "frames"
    names = make_frames(folder, 4)
    for index, name in enumerate(ODD_NAMES):
        make_image(folder / name, color=index)
    locked = request.param == "locked"
    # FRAME_BASE_DIR is also the only allowed root, so no fuzzed path can make the server
    # index anything outside this temporary folder (loading `/` would take minutes).
    env = {
        "FRAME_BASE_DIR": str(root),
        "IMAGE_SERVER_VARIANT_CACHE_DIR": str(tmp_path / "variants"),
    }
    if locked:
        env |= {"IMAGE_SERVER_TOKEN": TOKEN, "IMAGE_SERVER_SIGNING_KEY": SIGNING_KEY}
    target = FuzzTarget(
        mode=request.param,
        server=server_factory(env=env),
        folder=folder,
        names=tuple(sorted([*names, *ODD_NAMES])),
        headers={"Authorization": f"Bearer {TOKEN}"} if locked else {},
        signing_key=SIGNING_KEY if locked else None,
    )
    target.load_folder()
    yield target
    _write_summary(request, target.summary())


def _case_strategy(
    target: FuzzTarget, operation: APIOperation, mode: GenerationMode
) -> st.SearchStrategy[Case]:
    strategy = operation.as_strategy(mode)
    has_targets = {"id", "name"} & {p.name for p in operation.path_parameters}
    if mode.is_negative or not has_targets:
        return strategy  # a negative case must stay invalid

    def maybe_real(drawn: tuple[Case, bool, int]) -> Case:
        case, real, pick = drawn
        return target.with_real_values(case, pick) if real else case

    # Two in three valid requests name a real file (Hypothesis shrinks towards the first).
    real = st.sampled_from((True, True, False))
    return st.tuples(strategy, real, st.integers(0, 64)).map(maybe_real)


def _has_invalid_inputs(operation: APIOperation) -> bool:
    """Tell whether negative generation has anything to break in an operation.

    A body, or a parameter whose schema says more than "any string" (a path, query or header
    value is a string anyway). Without one, Hypothesis spends seconds proving it impossible.
    """
    if list(operation.body):
        return True
    for parameter in operation.iter_parameters():
        schema = parameter.definition.get("schema", {})
        if schema.get("type") != "string" or set(schema) - {"type", "examples"}:
            return True
    return False


def _fuzz(target: FuzzTarget, operation: APIOperation, mode: GenerationMode) -> None:
    @FUZZ_SETTINGS
    @given(case=_case_strategy(target, operation, mode))
    def run(case: Case) -> None:
        target.send(case)

    run()


def test_every_operation_answers_as_documented(fuzz_target: FuzzTarget) -> None:
    """No 5xx, and a documented status, media type, header set and JSON shape, for any input."""
    # Loaded from the served JSON rather than with `from_url`, which would leave out the
    # document's own operation (`GET /openapi.json`) from the fuzzing.
    served = requests.get(fuzz_target.server.url("/openapi.json"), timeout=10)
    document = served.json()
    schema = schemathesis.openapi.from_dict(document)
    # Requests go where the document says the server is: this request's own base URL.
    schema.config.update(base_url=document["servers"][0]["url"])
    operations = [result.ok() for result in schema.get_all_operations()]
    failed: dict[str, str] = {}
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        if _has_invalid_inputs(operation):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            try:
                _fuzz(fuzz_target, operation, mode)
            except Unsatisfiable:
                pass  # nothing in this operation can be made invalid (no parameter, no body)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its failures
                failed[f"{operation.label} ({mode.value})"] = fuzz_target.failures.get(
                    operation.label, repr(exc)
                )
    assert {label for label, _ in fuzz_target.statuses} == {op.label for op in operations}
    assert not failed, "\n\n".join(f"{label}:\n  {why}" for label, why in failed.items())


def test_offset_beyond_sqlite_integer_is_a_validation_error(api: Api, frames: Path) -> None:
    """Found by this fuzzing: `?offset=9223372036854775808` overflowed SQLite (a 500)."""
    dir_id = api.load(frames)["id"]
    response = api.get(f"/api/directories/{dir_id}/images?offset={SQLITE_MAX_INTEGER + 1}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]
    last = api.get(f"/api/directories/{dir_id}/images?offset={SQLITE_MAX_INTEGER}")
    assert last.status_code == 200
    assert last.json()["images"] == []
