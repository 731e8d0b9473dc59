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
    readme = (API_DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "docs/API.md" in readme
    assert "../shared" not in readme
