"""Replay an n8n workflow JSON the way n8n runs it, against real HTTP servers.

Nodes run one after another from the trigger, each over all the items the previous node
produced (n8n's node-by-node order); an HTTP Request node sends one request per item (once
with `executeOnce`), follows its pagination and turns each JSON answer into an item.
Every item remembers the items it came from, so `$('Node').item` resolves the way n8n's
paired items do. Expressions go through tests/support/n8n_template.py.

Supported nodes: manualTrigger, set (3.x), httpRequest (4.x, header-auth credentials),
splitOut, filter (2.x, number/string equals), noOp, and postgres `executeQuery`, which
is recorded with its evaluated parameters instead of run (no database here).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import requests

from tests.support.n8n_expr import member
from tests.support.n8n_template import evaluate


class ReplayError(RuntimeError):
    """The workflow uses something the replay does not support, or a request failed."""


@dataclass
class Item:
    """One n8n item: its JSON and the item of each earlier node it descends from."""

    json: Any
    lineage: dict[str, Any] = field(default_factory=dict)


@dataclass
class SentRequest:
    """One HTTP request a node sent, and the answer."""

    node: str
    method: str
    url: str
    body: Any
    status: int


class _NodeRef:
    """What `$('Name')` gives: `.item` (paired), `.first()`, `.all()`."""

    def __init__(self, name: str, current: Item, outputs: dict[str, list[Item]]) -> None:
        self.name, self.current, self.outputs = name, current, outputs

    def js_member(self, name: str) -> Any:
        if self.name not in self.outputs:
            raise ReplayError(f"$('{self.name}') refers to a node that has not run")
        if name == "item":
            if self.name not in self.current.lineage:
                raise ReplayError(f"no paired item of {self.name!r}")
            return {"json": self.current.lineage[self.name]}
        if name == "first":
            return lambda: {"json": self.outputs[self.name][0].json}
        if name == "all":
            return lambda: [{"json": item.json} for item in self.outputs[self.name]]
        raise ReplayError(f"$('{self.name}').{name} is not supported")


@dataclass
class Replay:
    """Run one workflow.

    :param credentials: credential name -> `(header, value)` for httpHeaderAuth.
    :param overrides: node name -> field -> value, replacing a Set node's assignments
        (how a test points the Settings node at its servers).
    """

    workflow: dict[str, Any]
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)
    sent: list[SentRequest] = field(default_factory=list)
    queries: list[tuple[str, list[Any]]] = field(default_factory=list)
    outputs: dict[str, list[Item]] = field(default_factory=dict)

    def run(self) -> dict[str, list[Item]]:
        """Run every node from the trigger on; return each node's output items."""
        nodes = {node["name"]: node for node in self.workflow["nodes"]}
        targets = {
            link["node"]
            for outputs in self.workflow["connections"].values()
            for branch in outputs["main"]
            for link in branch
        }
        queue = [(name, [Item({})]) for name in nodes if name not in targets]
        while queue:
            name, items = queue.pop(0)
            node = nodes[name]
            if node.get("executeOnce"):
                items = items[:1]
            produced = [
                Item(out.json, {**out.lineage, name: out.json}) for out in self._run(node, items)
            ]
            self.outputs[name] = produced
            for branch in self.workflow["connections"].get(name, {}).get("main", [])[:1]:
                queue.extend((link["node"], produced) for link in branch)
        return self.outputs

    def scope(self, item: Item, **extra: Any) -> dict[str, Any]:
        """The names an expression sees for `item`."""
        return {
            "$json": item.json,
            "$": lambda name: _NodeRef(name, item, self.outputs),
            **extra,
        }

    def _run(self, node: dict, items: list[Item]) -> list[Item]:
        kind = node["type"].removeprefix("n8n-nodes-base.")
        runner: Callable[[dict, list[Item]], list[Item]] | None = getattr(self, f"_{kind}", None)
        if runner is None:
            raise ReplayError(f"node type {node['type']} is not supported")
        return runner(node, items)

    def _manualTrigger(self, node: dict, items: list[Item]) -> list[Item]:  # noqa: N802
        return [Item({})]

    def _noOp(self, node: dict, items: list[Item]) -> list[Item]:  # noqa: N802
        return items

    def _set(self, node: dict, items: list[Item]) -> list[Item]:
        assignments = node["parameters"]["assignments"]["assignments"]
        replaced = self.overrides.get(node["name"], {})
        out = []
        for item in items:
            values = {}
            for field_ in assignments:
                value = replaced.get(field_["name"], field_["value"])
                values[field_["name"]] = _typed(evaluate(value, self.scope(item)), field_["type"])
            out.append(Item(values, item.lineage))
        return out

    def _splitOut(self, node: dict, items: list[Item]) -> list[Item]:  # noqa: N802
        name = node["parameters"]["fieldToSplitOut"]
        out = []
        for item in items:
            for element in member(item.json, name):
                out.append(
                    Item(element if isinstance(element, dict) else {name: element}, item.lineage)
                )
        return out

    def _filter(self, node: dict, items: list[Item]) -> list[Item]:
        conditions = node["parameters"]["conditions"]
        if conditions.get("combinator", "and") != "and":
            raise ReplayError("only 'and' filters are supported")
        return [
            item for item in items if all(self._holds(c, item) for c in conditions["conditions"])
        ]

    def _holds(self, condition: dict, item: Item) -> bool:
        operator = condition["operator"]
        if operator["operation"] not in ("equals", "notEquals"):
            raise ReplayError(f"filter operation {operator['operation']} is not supported")
        left = evaluate(condition["leftValue"], self.scope(item))
        right = evaluate(condition["rightValue"], self.scope(item))
        if operator["type"] == "number":
            left, right = float(left), float(right)
        return (left == right) == (operator["operation"] == "equals")

    def _postgres(self, node: dict, items: list[Item]) -> list[Item]:
        params = node["parameters"]
        if params.get("operation") != "executeQuery":
            raise ReplayError("only postgres executeQuery is supported")
        for item in items:
            values = evaluate(params["options"]["queryReplacement"], self.scope(item))
            if not isinstance(values, list):
                raise ReplayError("queryReplacement must be one array expression")
            self.queries.append((params["query"], values))
        return [Item({"success": True}, item.lineage) for item in items]

    def _httpRequest(self, node: dict, items: list[Item]) -> list[Item]:  # noqa: N802
        out = []
        for item in items:
            out.extend(Item(body, item.lineage) for body in self._request_pages(node, item))
        return out

    def _request_pages(self, node: dict, item: Item) -> list[Any]:
        params = node["parameters"]
        scope = self.scope(item)
        method = params.get("method", "GET")
        url = evaluate(params["url"], scope)
        body = None
        if params.get("sendBody"):
            if params.get("specifyBody") != "json":
                raise ReplayError("only JSON bodies are supported")
            body = json.loads(evaluate(params["jsonBody"], scope))
        headers = self._auth_headers(node)
        pagination = params.get("options", {}).get("pagination", {}).get("pagination")
        pages, max_pages = [], (pagination or {}).get("maxRequests", 1)
        while True:
            answer = self._send(node["name"], method, url, body, headers)
            pages.extend(answer if isinstance(answer, list) else [answer])
            if not pagination:
                return pages
            response = {"$response": {"body": answer, "statusCode": 200}, "$pageCount": len(pages)}
            if evaluate(pagination["completeExpression"], {**scope, **response}):
                return pages
            if len(pages) >= max_pages:
                return pages
            url = evaluate(pagination["nextURL"], {**scope, **response})

    def _auth_headers(self, node: dict) -> dict[str, str]:
        params = node["parameters"]
        if params.get("authentication", "none") == "none":
            return {}
        if params.get("genericAuthType") != "httpHeaderAuth":
            raise ReplayError("only httpHeaderAuth credentials are supported")
        name = node["credentials"]["httpHeaderAuth"]["name"]
        header, value = self.credentials[name]
        return {header: value}

    def _send(self, node: str, method: str, url: str, body: Any, headers: dict) -> Any:
        response = self.session.request(method, url, json=body, headers=headers, timeout=60)
        self.sent.append(SentRequest(node, method, url, body, response.status_code))
        if response.status_code >= 400:
            raise ReplayError(
                f"{node}: {method} {url} -> {response.status_code} {response.text[:300]}"
            )
        return response.json()


def _typed(value: Any, kind: str) -> Any:
    """Apply a Set node field's type, as n8n's strict type validation would."""
    if kind == "number":
        return float(value) if isinstance(value, str) and "." in value else int(value)
    if kind == "string":
        return str(value)
    if kind == "array" and not isinstance(value, list):
        raise ReplayError(f"{value!r} is not an array")
    return value
