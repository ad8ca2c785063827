"""The OpenAI Agents SDK with promptc's cache placement (``pip install 'promptc[openai-agents]'``).

:func:`to_openai_agents` builds the request with the SAME adapter code :class:`~promptc.runtime.client.Client`
uses (through :func:`promptc.runtime.sdk.to_sdk`, OpenAI's Responses API, the SDK's default model) and
maps it onto the SDK's own fields:

- the system message and the user turn become the run's ``input`` items (Responses message items whose
  ``input_text`` parts keep their ``prompt_cache_breakpoint``): the agent's ``instructions`` string could
  carry no breakpoint, so the agent gets none;
- ``prompt_cache_options`` and ``max_output_tokens`` go into ``ModelSettings`` (its own fields),
  ``prompt_cache_key`` into ``ModelSettings.extra_args``;
- the tools become no-op ``FunctionTool`` s with the plan's schemas (only their definitions reach the wire;
  ``strict_json_schema=False``, as promptc sends them).

What the pinned SDK version does with each field is recorded by tests/integrations/test_openai_agents.py.
Usage comes back through :meth:`OpenAIAgentsCall.usage`, from the SDK's per-response usage record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptc.integrations import require
from promptc.plan import Request
from promptc.runtime.cost import Cost
from promptc.runtime.sdk import SdkCall, to_sdk
from promptc.runtime.usage import Usage

#: the Responses payload keys that become agent fields / ModelSettings fields rather than extra_args
_SHAPED = {"model", "input", "tools", "max_output_tokens", "temperature", "prompt_cache_options", "extra_headers"}


@dataclass(frozen=True)
class OpenAIAgentsCall:
    """Input items, tools and model settings for one request; ``agent()`` makes the ``Agent``."""

    target: str
    input: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    settings: dict[str, Any]
    sdk: SdkCall = field(repr=False)

    def agent(self, name: str = "promptc", *, openai_client: Any = None, **agent_kwargs: Any) -> Any:
        """An ``Agent`` on ``OpenAIResponsesModel`` (``openai_client``: your ``AsyncOpenAI``; default: one from
        the environment) with the plan's tools and settings; run it with ``Runner.run(agent, call.input)``."""
        from agents import Agent, FunctionTool, ModelSettings, OpenAIResponsesModel
        from openai import AsyncOpenAI

        async def noop(ctx: Any, args: str) -> str:  # only the definitions reach the wire
            return ""

        tools = [FunctionTool(name=t["name"], description=t.get("description") or "",
                              params_json_schema=t["parameters"], on_invoke_tool=noop,
                              strict_json_schema=bool(t.get("strict"))) for t in self.tools]
        model = OpenAIResponsesModel(self.sdk.kwargs["model"], openai_client or AsyncOpenAI())
        return Agent(name=name, model=model, tools=tools, model_settings=ModelSettings(**self.settings),
                     **agent_kwargs)

    def usage(self, result: Any) -> Usage:
        """promptc's :class:`Usage` of a run's last model response (a ``RunResult`` or a ``ModelResponse``),
        from the Responses usage record the SDK keeps."""
        responses = getattr(result, "raw_responses", None)
        response = responses[-1] if responses else result
        u = getattr(response, "usage", None)
        if u is None or getattr(u, "requests", 1) == 0:
            raise ValueError("the run carries no usage record")
        raw = {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "total_tokens": u.total_tokens,
               # the details as the provider sent them (the SDK keeps them as the openai SDK's types)
               "input_tokens_details": _dump(getattr(u, "input_tokens_details", None)),
               "output_tokens_details": _dump(getattr(u, "output_tokens_details", None))}
        return self.sdk.usage({"output": [], "usage": raw})

    def cost(self, result: Any) -> Cost | None:
        return self.sdk.cost_of(self.usage(result))


def _dump(details: Any) -> dict[str, Any]:
    return details.model_dump(mode="json", exclude_none=True) if details is not None else {}


def to_openai_agents(request: Request, target: str = "openai/gpt-5.6", **kw: Any) -> OpenAIAgentsCall:
    """Input items, tools and ``ModelSettings`` fields for ``request`` on ``target`` (openai/*, the Responses
    API); ``kw`` as for :func:`promptc.runtime.sdk.to_sdk`."""
    require("agents", "to_openai_agents", "openai-agents", "openai-agents")
    if not target.startswith("openai/"):
        raise ValueError(f"to_openai_agents supports openai/* targets (the Responses API), not {target!r}")
    call = to_sdk(request, target, api="responses", **kw)
    payload = call.kwargs
    settings: dict[str, Any] = {}
    if "max_output_tokens" in payload:
        settings["max_tokens"] = payload["max_output_tokens"]
    if "temperature" in payload:
        settings["temperature"] = payload["temperature"]
    if "prompt_cache_options" in payload:
        settings["prompt_cache_options"] = payload["prompt_cache_options"]
    if payload.get("extra_headers"):
        settings["extra_headers"] = dict(payload["extra_headers"])
    extra = {k: v for k, v in payload.items() if k not in _SHAPED}
    if extra:
        settings["extra_args"] = extra
    return OpenAIAgentsCall(call.target, list(payload["input"]), list(payload.get("tools") or []), settings, call)
