"""A stand-in of an OpenAI-compatible chat completions API that plays a scripted agent.

An agent framework (n8n's AI Agent, LangChain) sends the whole conversation on every turn:
the user's task, the tool calls the model asked for and the tool results the agent sent
back. The stand-in reads those results, hands them to the test's script, and answers with
what the script says: more tool calls, or the final text. So a test decides what the
"model" does (call `list_images` with `unique=true`, then `get_image`...) and sees exactly
what the agent framework made of each tool's answer, as the model would.

Every request is checked against the shape OpenAI documents for chat completions with
tools (roles, `tool_calls` and the `tool` messages that answer them by id, the `tools`
list, a bearer token); a request with problems gets 400 and its problems are kept, so a
test asserts `chat.problems == []`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from http import HTTPStatus
from typing import Any

from tests.support.stub_http import StubServer

ROUTE = ("POST", "/v1/chat/completions")
_ROLES = ("system", "developer", "user", "assistant", "tool")


@dataclass(frozen=True)
class ToolResult:
    """One tool call the model made and what the agent sent back as its result."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    content: str  # the `tool` message's content, as the model receives it


# The script: the tool results so far -> the next tool calls (name, arguments), or the answer.
Script = Callable[[list[ToolResult]], "list[tuple[str, dict[str, Any]]] | str"]


@dataclass
class ChatRequest:
    """One request to the stand-in: its body, headers and the problems found in it."""

    body: Any
    headers: dict[str, str]
    problems: list[str] = field(default_factory=list)


class ScriptedChat:
    """Serve the script on a loopback port; `base_url` ends in `/v1`, as OpenAI's does."""

    def __init__(self, script: Script, model: str | None = None) -> None:
        self.script = script
        self.model = model
        self.requests: list[ChatRequest] = []
        self._lock = threading.Lock()
        self._server = StubServer(self._handle)
        self.base_url = self._server.base_url + "/v1"

    def __enter__(self) -> ScriptedChat:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()

    def play(self, script: Script) -> None:
        """Play `script` from now on, with no requests recorded yet."""
        with self._lock:
            self.script = script
            self.requests.clear()

    @property
    def problems(self) -> list[str]:
        """Every problem of every request, in order."""
        return [problem for request in self.requests for problem in request.problems]

    @property
    def results(self) -> list[ToolResult]:
        """The tool results of the longest conversation the stand-in was sent."""
        bodies = [request.body for request in self.requests if not request.problems]
        return max((tool_results(body["messages"]) for body in bodies), key=len, default=[])

    def _handle(self, method: str, path: str, headers: dict[str, str], raw: bytes):
        if (method, path.split("?", 1)[0]) != ROUTE:
            return HTTPStatus.NOT_FOUND, {"error": {"message": f"no such route: {method} {path}"}}
        request = ChatRequest(None, headers)
        answer = None
        try:
            request.body = json.loads(raw)
            check_request(request.body, headers, request.problems, self.model)
        except Exception as exc:  # a malformed request is the agent's problem: report it
            request.problems.append(f"unreadable request: {exc!r}: {raw[:200]!r}")
        if not request.problems:
            try:
                answer = self._answer(request.body)
            except Exception as exc:  # the script could not read what the agent sent
                request.problems.append(f"the script failed on this conversation: {exc!r}")
        with self._lock:
            self.requests.append(request)
        if request.problems:
            return HTTPStatus.BAD_REQUEST, {"error": {"message": "; ".join(request.problems)}}
        return HTTPStatus.OK, answer

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        turn = len(self.requests)
        step = self.script(tool_results(body["messages"]))
        if isinstance(step, str):
            message: dict[str, Any] = {"role": "assistant", "content": step}
            finish = "stop"
        else:
            calls = [
                {
                    "id": f"call_{turn}_{index}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
                for index, (name, arguments) in enumerate(step)
            ]
            message = {"role": "assistant", "content": None, "tool_calls": calls}
            finish = "tool_calls"
        return {
            "id": f"chatcmpl-scripted-{turn}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


def tool_results(messages: list[dict[str, Any]]) -> list[ToolResult]:
    """Pair every `tool` message with the assistant tool call it answers (by id)."""
    calls = {
        call["id"]: call["function"]
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
    }
    results = []
    for message in messages:
        if message.get("role") != "tool":
            continue
        function = calls[message["tool_call_id"]]
        content = message.get("content")
        if isinstance(content, list):  # text parts: the model reads them joined
            content = "".join(part.get("text", "") for part in content)
        results.append(
            ToolResult(
                message["tool_call_id"],
                function["name"],
                json.loads(function.get("arguments") or "{}"),
                content or "",
            )
        )
    return results


def check_request(
    body: Any, headers: dict[str, str], problems: list[str], model: str | None
) -> None:
    """What OpenAI refuses: the documented shape of a chat completions request with tools."""
    if not headers.get("authorization", "").startswith("Bearer "):
        problems.append("missing Authorization: Bearer header")
    if not isinstance(body, dict):
        problems.append("body is not an object")
        return
    if not isinstance(body.get("model"), str) or (model and body["model"] != model):
        problems.append(f"model is {body.get('model')!r}, expected {model!r}")
    if body.get("stream"):
        problems.append("stream=true: this stand-in answers whole completions only")
    _check_tools(body.get("tools"), problems)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append("messages missing")
        return
    _check_messages(messages, problems)


def _check_tools(tools: Any, problems: list[str]) -> None:
    for tool in tools or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(function, dict):
            problems.append(f"tool is not a function tool: {tool!r:.80}")
            continue
        if not isinstance(function.get("parameters", {}), dict):
            problems.append(f"tool {function.get('name')!r} has no JSON schema")


def _check_messages(messages: list[Any], problems: list[str]) -> None:
    pending: set[str] = set()  # tool calls not yet answered by a `tool` message
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES:
            problems.append(f"bad role {role!r}")
            continue
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                problems.append(f"tool message answers no open tool call: {call_id!r}")
            pending.discard(call_id)
            continue
        if pending:
            problems.append(f"tool calls {sorted(pending)} not answered before a {role} message")
            pending.clear()
        for call in message.get("tool_calls") or []:
            pending.add(call.get("id"))
