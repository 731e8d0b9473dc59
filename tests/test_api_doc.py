"""`docs/API.md`, the project's own API reference, names exactly the operations of `/openapi.json`.

Each operation has a heading "### `METHOD /path`" (path as in the OpenAPI document). HEAD and
OPTIONS exist on every route and are described once, under "Conventions". The document is
fetched from the real server, so a route added without a line in the reference fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Api

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "API.md"
DOCUMENTED = re.compile(r"^### `([A-Z]+) (/\S*)`$", re.MULTILINE)
GENERIC_METHODS = {"head", "options"}
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def operations_in_openapi(api: Api) -> set[tuple[str, str]]:
    document = api.get("/openapi.json").json()
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_the_reference_documents_every_operation_and_nothing_else(api):
    documented = set(DOCUMENTED.findall(API_DOC.read_text(encoding="utf-8")))
    served = operations_in_openapi(api)
    assert served - documented == set(), "operations missing from docs/API.md"
    assert documented - served == set(), "docs/API.md documents operations the server lacks"


def test_the_readme_links_the_reference_and_not_files_outside_the_repository():
    # Follow the README's relative links as a reader would: each must open a file of this
    # repository, and one of them must open this reference.
    root = API_DOC.parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    targets = [target.split("#")[0] for target in MARKDOWN_LINK.findall(readme)]
    local = [target for target in targets if target and not URL_SCHEME.match(target)]
    opened = [(root / target).resolve() for target in local]
    outside = [t for t, path in zip(local, opened, strict=True) if not path.is_relative_to(root)]
    assert outside == [], "README links files outside the repository"
    missing = [t for t, path in zip(local, opened, strict=True) if not path.exists()]
    assert missing == [], "README links files that do not exist"
    assert API_DOC in opened, "README does not link docs/API.md"
