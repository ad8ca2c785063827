"""pydantic-ai agents with promptc's cache placement, as far as pydantic-ai can carry it
(``pip install 'promptc[pydantic-ai]'``).

:func:`to_pydantic_ai` builds the request with the SAME adapter code :class:`~promptc.runtime.client.Client`
uses (through :func:`promptc.runtime.sdk.to_sdk`) and maps the Anthropic payload onto what pydantic-ai
offers:

- the system blocks become the agent's ``instructions`` (one string per block); the cache marker on the
  last system block becomes ``anthropic_cache_instructions`` (TTL included);
- a marker on the last tool becomes ``anthropic_cache_tool_definitions``; the tools are no-op
  ``Tool.from_schema`` tools with the plan's schemas (only their definitions reach the wire);
- a marker on a user text part becomes a ``CachePoint`` after that part.

What is lost (pydantic-ai 2.78.0): it joins all literal instructions with ``"\\n\\n"`` into ONE system
block, so a marker on an inner system block (e.g. after the shared ``rules``: the prefix other agents reuse)
cannot be placed; the last one still caches the whole static prefix. pydantic-ai 2.78's only route to a
second system cache point, instructions registered with ``on_change="append"``, does place a marker after
the literal ones, but sends each appended block wrapped in a ``<pyai:context>`` element plus an explanation
of its own, so the bytes are no longer the plan's; promptc keeps the plan's text. tests/integrations/
test_pydantic_ai.py records exactly which bytes differ from promptc's payload, on both routes. Usage comes back through
:meth:`PydanticAICall.usage`, from the provider's usage record pydantic-ai keeps in ``usage().details``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptc.integrations import require
from promptc.plan import Request
from promptc.runtime.cost import Cost
from promptc.runtime.sdk import SdkCall, to_sdk
from promptc.runtime.usage import Usage


@dataclass(frozen=True)
class PydanticAICall:
    """Instructions, user prompt, tools and model settings for one request; ``agent()`` makes the agent."""

    target: str
    instructions: list[str]
    prompt: list[Any]
    tools: list[dict[str, Any]]
    settings: dict[str, Any]
    sdk: SdkCall = field(repr=False)
    #: the plan's cache markers pydantic-ai cannot place (inner system blocks), by system-block index
    lost_marks: list[int] = field(default_factory=list)

    def agent(self, **provider_kwargs: Any) -> Any:
        """A pydantic-ai ``Agent`` on ``AnthropicModel`` (``provider_kwargs``: ``AnthropicProvider``'s, e.g.
        ``base_url``, ``api_key``, ``http_client``) with the plan's instructions, tools and settings."""
        from pydantic_ai import Agent, Tool
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        def noop(**_: Any) -> str:  # only the definitions reach the wire; the team runs its own tools
            return ""

        tools = [Tool.from_schema(noop, t["name"], t.get("description"), t["input_schema"]) for t in self.tools]
        model = AnthropicModel(self.sdk.kwargs["model"], provider=AnthropicProvider(**provider_kwargs))
        return Agent(model, instructions=self.instructions, tools=tools, model_settings=dict(self.settings))

    def usage(self, result: Any) -> Usage:
        """promptc's :class:`Usage` of an agent run's last model response (or of a ``RequestUsage``), from the
        Anthropic usage record pydantic-ai keeps in ``details`` (its ``cache_write_tokens`` folds both TTLs)."""
        response = getattr(result, "response", None)  # an AgentRunResult: its last ModelResponse
        run = getattr(response, "usage", None) if response is not None else result
        d = dict(getattr(run, "details", None) or {})
        if "input_tokens" not in d:
            raise ValueError("the run carries no Anthropic usage record (usage().details)")
        raw: dict[str, Any] = {"input_tokens": d["input_tokens"], "output_tokens": d.get("output_tokens", 0),
                               "cache_read_input_tokens": d.get("cache_read_input_tokens", 0),
                               "cache_creation_input_tokens": d.get("cache_creation_input_tokens", 0)}
        split = {k: d[k] for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens") if k in d}
        if split:
            raw["cache_creation"] = split
        return self.sdk.usage({"content": [], "usage": raw})

    def cost(self, result: Any) -> Cost | None:
        return self.sdk.cost_of(self.usage(result))


def to_pydantic_ai(request: Request, target: str = "anthropic/claude-sonnet-4-5", **kw: Any) -> PydanticAICall:
    """Instructions, prompt, tools and ``AnthropicModelSettings`` for ``request`` on ``target`` (anthropic/*);
    ``kw`` as for :func:`promptc.runtime.sdk.to_sdk`."""
    CachePoint = require("pydantic_ai", "to_pydantic_ai", "pydantic-ai", "pydantic-ai-slim").CachePoint
    if not target.startswith("anthropic/"):
        raise ValueError(f"to_pydantic_ai supports anthropic/* targets, not {target!r}")
    call = to_sdk(request, target, **kw)
    payload = call.kwargs
    system = list(payload.get("system") or [])
    settings: dict[str, Any] = {"max_tokens": payload["max_tokens"]}
    if "temperature" in payload:
        settings["temperature"] = payload["temperature"]
    if payload.get("extra_headers"):
        settings["extra_headers"] = dict(payload["extra_headers"])
    marked = [i for i, b in enumerate(system) if "cache_control" in b]
    if system and "cache_control" in system[-1]:
        settings["anthropic_cache_instructions"] = system[-1]["cache_control"].get("ttl", "5m")
    tools = list(payload.get("tools") or [])
    if tools and "cache_control" in tools[-1]:
        settings["anthropic_cache_tool_definitions"] = tools[-1]["cache_control"].get("ttl", "5m")
    prompt: list[Any] = []
    for m in payload["messages"]:
        if m["role"] != "user":
            raise ValueError("to_pydantic_ai maps single-turn requests (a history goes in message_history)")
        parts = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        for p in parts:
            prompt.append(p["text"])
            if "cache_control" in p:
                prompt.append(CachePoint(ttl=p["cache_control"].get("ttl", "5m")))
    lost = [i for i in marked if i != len(system) - 1]
    return PydanticAICall(call.target, [b["text"] for b in system], prompt, tools, settings, call, lost)
