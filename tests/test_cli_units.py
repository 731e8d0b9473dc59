"""Pure parts of the loader: exit statuses, the JSON document and its atomic write, predicates."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path

import pytest

from imageserver.cli.load import ExitStatus
from imageserver.cli.load import exit_status_for
from imageserver.cli.load import exit_status_for_result
from imageserver.cli.load import main
from imageserver.loader import output
from imageserver.loader.errors import OutputError
from imageserver.loader.errors import ServerError
from imageserver.loader.errors import ServerUnavailable
from imageserver.loader.errors import UsageError
from imageserver.loader.launcher import is_local_host
from imageserver.loader.options import RunResult
from imageserver.loader.run import resolve_directory
from imageserver.loader.verify import RetryPolicy
from imageserver.settings.config import ConfigError

NOW = datetime(2026, 3, 4, 5, 6, 7)


def test_exit_status_values_are_the_contracts():
    assert [int(s) for s in ExitStatus][:4] == [0, 1, 2, 3]
    assert ExitStatus.OK == 0 and ExitStatus.SERVER_OR_LOAD_FAILED == 1
    assert ExitStatus.USAGE == 2 and ExitStatus.CHECKS_FAILED == 3


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ServerUnavailable("down"), ExitStatus.SERVER_OR_LOAD_FAILED),
        (ServerError("load /x", 404, "Directory not found: /x"), ExitStatus.SERVER_OR_LOAD_FAILED),
        (OutputError("cannot write"), ExitStatus.SERVER_OR_LOAD_FAILED),
        (PermissionError("denied"), ExitStatus.SERVER_OR_LOAD_FAILED),
        (UsageError("bad"), ExitStatus.USAGE),
        (ConfigError("IMAGE_SERVER_PORT must be an integer"), ExitStatus.USAGE),
        (KeyboardInterrupt(), ExitStatus.INTERRUPTED),
    ],
)
def test_failures_map_to_exit_statuses(error, status):
    assert exit_status_for(error) is status


def test_a_run_with_failed_checks_exits_3():
    assert exit_status_for_result(RunResult(Path("x.json"), 5, 0)) is ExitStatus.OK
    assert exit_status_for_result(RunResult(Path("x.json"), 5, 2)) is ExitStatus.CHECKS_FAILED


def test_server_error_is_one_line_even_for_a_422_list():
    error = ServerError("load x", 422, [{"loc": ["body", "path"], "msg": "Field required"}])
    assert str(error) == 'load x failed (422): [{"loc":["body","path"],"msg":"Field required"}]'
    assert "\n" not in str(ServerError("load x", 404, "line one\nline two"))


def test_main_returns_instead_of_exiting(capsys, monkeypatch):
    monkeypatch.setenv("IMAGE_SERVER_ENV_FILE", os.devnull)
    assert main(["--help"]) == 0
    assert main(["--dir", "x", "--workers", "0"]) == 2
    assert "--workers: must be >= 1" in capsys.readouterr().err


def test_main_reports_a_bad_setting_in_one_line(capsys, monkeypatch):
    monkeypatch.setenv("IMAGE_SERVER_ENV_FILE", os.devnull)
    monkeypatch.setenv("IMAGE_SERVER_PORT", "abc")
    assert main(["--dir", "x"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_document_keys_in_contract_order():
    timer = {"timeout_minutes": 5, "auto_unload_at": "2026-03-04 05:11:07", "time_remaining": None}
    extras = {"id": "frames-1", "success": False}
    document = output.build_document("/data/frames", ["u1", "u2"], timer, extras, NOW)
    assert list(document) == [
        "success", "directory", "timestamp", "message", "count", "image_urls",
        "timeout_minutes", "auto_unload_at", "id",
    ]  # fmt: skip
    assert document["success"] is True  # extras never override the pinned keys
    assert document["timestamp"] == "2026-03-04 05:06:07"
    assert document["message"] == "Generated URLs for 2 images"


def test_document_without_a_timer_has_no_timer_keys():
    timer = {"timeout_minutes": None, "auto_unload_at": None, "time_remaining": None}
    document = output.build_document("/d", [], timer, {}, NOW)
    assert list(document) == ["success", "directory", "timestamp", "message", "count", "image_urls"]


@pytest.mark.parametrize(
    ("directory", "name", "expected"),
    [
        ("/data/frames", None, "frames_20260304_050607.json"),
        ("/data/frames", "run", "run.json"),
        ("/", None, "root_20260304_050607.json"),
    ],
)
def test_output_paths(tmp_path, directory, name, expected):
    run_file, latest = output.output_paths(tmp_path, directory, name, NOW)
    assert run_file == tmp_path / expected
    assert latest.parent == tmp_path and latest.name.endswith("_latest.json")


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "a\\b", "/abs", "nul\x00"])
def test_names_that_could_escape_are_refused(name):
    with pytest.raises(ValueError):
        output.check_name(name)


@pytest.mark.parametrize("name", ["run", "run.v2", "..hidden-ish", "été 2026"])
def test_plain_names_are_kept(name):
    assert output.check_name(name) == name


def test_write_goes_through_a_temp_file_in_the_same_directory(tmp_path, monkeypatch):
    target = tmp_path / "out" / "doc.json"
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(source, destination):
        renames.append((str(source), str(destination)))
        assert not Path(destination).exists()  # nothing half-written is ever visible
        assert json.loads(Path(source).read_text()) == {"a": 1}
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", spy)
    output.write_json_atomic(target, {"a": 1})
    [(source, destination)] = renames
    assert Path(source).parent == target.parent and source != destination
    assert destination == str(target)
    assert target.read_text() == '{\n  "a": 1\n}'
    assert os.listdir(target.parent) == ["doc.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "doc.json"
    target.write_text("old")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError):
        output.write_json_atomic(target, {"a": 1})
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["doc.json"]


def test_write_outputs_wraps_os_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutputError, match="cannot write"):
        output.write_outputs(blocker / "json", "/data/frames", None, {"a": 1}, NOW)


def test_write_outputs_writes_the_run_file_and_latest(tmp_path):
    written = output.write_outputs(tmp_path, "/data/frames", None, {"a": 1}, NOW)
    assert written == tmp_path / "frames_20260304_050607.json"
    assert (tmp_path / "frames_latest.json").read_text() == written.read_text()


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", True),
        (socket.gethostname(), True),
        ("192.0.2.1", False),
        ("example.com", False),
        ("10.0.0.5", False),
    ],
)
def test_is_local_host(host, local):
    assert is_local_host(host) is local


def test_resolve_directory(tmp_path, monkeypatch):
    base, cwd = tmp_path / "base", tmp_path / "cwd"
    (base / "a").mkdir(parents=True)
    (cwd / "a").mkdir(parents=True)
    (cwd / "b").mkdir()
    monkeypatch.chdir(cwd)
    assert resolve_directory("a", str(base)) == str(base / "a")
    assert resolve_directory("b", str(base)) == str(cwd / "b")
    assert resolve_directory("c", str(base)) == str(base / "c")  # the server will say 404
    assert resolve_directory("c", None) == str(cwd / "c")
    assert resolve_directory(str(tmp_path / "x" / ".." / "y"), None) == str(tmp_path / "y")


def test_retry_delays_double():
    policy = RetryPolicy(attempts=4, base_delay=0.5)
    assert [policy.delay(n) for n in range(3)] == [0.5, 1.0, 2.0]
