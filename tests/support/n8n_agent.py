"""Read what n8n's AI Agent did with its tools out of a run (`n8n_cli.Execution.raw`).

A tool sub-node (the MCP Client Tool) has no `main` output: each call the agent made
through it is one run of that node, whose input (`inputOverride.ai_tool`) holds the tool's
name and arguments and whose output (`data.ai_tool`) holds what the tool answered, as n8n
logged it. Those runs are what a user sees in the node's log panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.n8n_cli import Execution


@dataclass(frozen=True)
class ToolRun:
    """One call of one tool through a tool sub-node, as n8n recorded it."""

    tool: str
    arguments: dict[str, Any]
    response: Any  # the MCP Client Tool's `response`: the result's content blocks
    error: dict[str, Any] | None


def tool_runs(execution: Execution, node: str) -> list[ToolRun]:
    """Every call made through the tool sub-node `node`, in the order they ran."""
    runs = execution.raw.get("data", {}).get("resultData", {}).get("runData", {}).get(node, [])
    found = []
    for run in runs:
        given = _first_json(run.get("inputOverride"))
        answered = _first_json(run.get("data"))
        found.append(
            ToolRun(
                tool=(given.get("tool") or {}).get("name", ""),
                arguments=given.get("query") or {},
                response=answered.get("response"),
                error=run.get("error"),
            )
        )
    return found


def _first_json(connections: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON of the first item on the first `ai_tool` output (empty when there is none)."""
    branches = (connections or {}).get("ai_tool") or [[]]
    items = branches[0] or []
    return items[0].get("json", {}) if items else {}
