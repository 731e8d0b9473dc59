"""The documentation points at things that exist (issue 20). Fast, no server, no network.

- every relative link in README.md, SECURITY.md, CHANGELOG.md, NGROK_SETUP.md, docs/*.md and
  examples/*/README.md names an existing file, and its `#anchor` an existing heading
  (GitHub's slugs);
- the README's commands that name repository files (`./persistent_run.sh`,
  `python load_folder_v2.py`, `make run`, `examples/...`) name files and targets that exist;
- the README's settings table (and docs/CONFIGURATION.md's) lists exactly the settings that
  `imageserver.settings.config.SETTINGS` declares;
- every `docs/<NAME>.md#<anchor>` that code, tests, benchmarks, examples, deploy/ and the
  top-level scripts cite resolves.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from imageserver.settings import config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "CHANGELOG.md", ROOT / "NGROK_SETUP.md"]
    + [*ROOT.glob("docs/*.md"), *ROOT.glob("examples/*/README.md")]
)
CITING_FOLDERS = ("imageserver", "tests", "bench", "examples", "deploy", "scripts")
CITING_SUFFIXES = {".py", ".sh", ".html", ".js", ".css", ".toml", ".txt", ".json", ".md"}
CITING_SUFFIXES |= {".service", ".yml", ".example"}

FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# [text](target) and ![alt](target); the target stops at a space (an optional "title").
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CITATION = re.compile(r"docs/[A-Z]+\.md(?:#[a-z0-9_-]+)?")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:...
SETTING_NAME = re.compile(r"^\|\s*`((?:IMAGE_SERVER_|FRAME_BASE_DIR)[A-Z0-9_]*)`\s*\|")


def split_fences(text: str) -> tuple[list[str], list[str]]:
    """Return the lines outside fenced code blocks, and the lines inside them."""
    prose: list[str] = []
    code: list[str] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        (code if fenced else prose).append(line)
    return prose, code


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters, digits and _, as GitHub does
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors of a markdown file's headings, with GitHub's -1, -2 for repeats."""
    prose, _ = split_fences(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in prose:
        match = HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)


def problem_with(target: str, base: Path, source: Path) -> str | None:
    """Tell what is wrong with a relative link `target` read in `source` (None: nothing)."""
    path_part, _, anchor = target.partition("#")
    resolved = (base / path_part).resolve() if path_part else source
    if ROOT not in resolved.parents and resolved != ROOT:
        return f"{target}: leaves the repository"
    if not resolved.exists():
        return f"{target}: no such file {resolved.relative_to(ROOT)}"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"{target}: no heading with anchor #{anchor} in {resolved.relative_to(ROOT)}"
    return None


def test_the_documents_to_check_exist():
    names = {path.relative_to(ROOT).as_posix() for path in DOCUMENTS}
    expected = {"README.md", "SECURITY.md", "CHANGELOG.md", "docs/API.md", "docs/CLI.md"}
    assert expected <= names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves_to_a_file_and_a_heading(document):
    prose, _ = split_fences(document.read_text(encoding="utf-8"))
    problems = []
    for line in prose:
        for target in LINK.findall(line):
            if not EXTERNAL.match(target):
                problems.append(problem_with(target, document.parent, document))
        # Bare citations in the text ("see docs/API.md#images") are from the repository root.
        for target in CITATION.findall(line):
            problems.append(problem_with(target, ROOT, document))
    assert [p for p in problems if p] == []


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9_.-]+):", makefile, re.MULTILINE))


def test_the_readme_commands_name_files_and_make_targets_that_exist():
    _, code = split_fences(README.read_text(encoding="utf-8"))
    commands = [line.split("#", 1)[0] if " #" in line else line for line in code]
    targets = make_targets()
    problems = []
    named_files = 0
    for line in commands:
        for target in re.findall(r"\bmake\s+([a-z][\w-]*)", line):
            if target not in targets:
                problems.append(f"make {target}: no such target in the Makefile")
        files = re.findall(r"(?:^|\s)\./([\w./-]+)", line)
        files += re.findall(r"\bpython3?\s+([\w./-]+\.py)\b", line)
        files += re.findall(r"(?:^|\s)((?:examples|scripts|deploy|bench|docs)/[\w./-]+)", line)
        for name in files:
            named_files += 1
            if not (ROOT / name).exists():
                problems.append(f"{name}: no such file in the repository")
    assert problems == []
    assert named_files > 0 or "make run" in README.read_text(encoding="utf-8")


def test_the_quick_start_keeps_one_command_to_run_and_one_to_test():
    _, code = split_fences(README.read_text(encoding="utf-8"))
    assert "make run" in code
    assert "make test" in code


def declared_settings() -> dict[str, str]:
    """Each declared environment variable and its default, from the settings module's table."""
    return {setting.env: setting.default for setting in config.SETTINGS}


def settings_rows(path: Path, section: str) -> dict[str, list[str]]:
    """The table rows naming a setting under `section` (a `## ` heading), by variable."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    rows: dict[str, list[str]] = {}
    for line in text[start : end if end != -1 else None].splitlines():
        match = SETTING_NAME.match(line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} listed twice in {path.name}"
            rows[match.group(1)] = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return rows


def test_the_settings_module_declares_settings():
    assert "IMAGE_SERVER_PORT" in declared_settings()
    assert len(declared_settings()) > 20


def test_the_readme_settings_table_lists_exactly_the_declared_settings():
    listed = set(settings_rows(README, "Settings"))
    declared = set(declared_settings())
    assert declared - listed == set(), "settings missing from the README table"
    assert listed - declared == set(), "the README lists settings the server does not declare"


def test_the_configuration_reference_lists_every_setting_with_its_default():
    rows = settings_rows(ROOT / "docs" / "CONFIGURATION.md", "Every setting")
    declared = declared_settings()
    assert set(rows) == set(declared)
    for env, default in declared.items():
        shown = rows[env][1]
        assert shown == (f"`{default}`" if default else "empty"), f"{env}: default {shown}"


def cited_documents() -> dict[str, list[str]]:
    """Each `docs/<NAME>.md` (with its anchor) cited by code, tests and benchmarks, and where."""
    cited: dict[str, list[str]] = {}
    paths = [path for folder in CITING_FOLDERS for path in sorted((ROOT / folder).rglob("*"))]
    paths += sorted(ROOT.glob("*.py")) + sorted(ROOT.glob("*.sh")) + [ROOT / ".env.example"]
    for path in paths:
        if path.suffix not in CITING_SUFFIXES or "__pycache__" in path.parts:
            continue
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for citation in set(CITATION.findall(text)):
            cited.setdefault(citation, []).append(path.relative_to(ROOT).as_posix())
    return cited


def test_the_code_cites_documents_at_all():
    cited = cited_documents()
    assert any(citation.startswith("docs/API.md#") for citation in cited)
    assert "deploy/imageserver.service" in {place for places in cited.values() for place in places}


def test_every_docs_citation_in_the_code_resolves():
    problems = {
        citation: places
        for citation, places in cited_documents().items()
        if problem_with(citation, ROOT, ROOT / "README.md")
    }
    assert problems == {}, "cited documents or anchors that do not exist"
