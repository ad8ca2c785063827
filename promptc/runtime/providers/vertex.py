"""Claude on Vertex AI (``vertex/<model>@<version>``): the Anthropic Messages wire
(:class:`~promptc.runtime.providers.anthropic.AnthropicAdapter`) as the official SDK's
``AnthropicVertex`` client sends it — ``POST /projects/<project>/locations/<region>/publishers/anthropic/
models/<model>:rawPredict`` (``:streamRawPredict`` for streams) under the region's API base, ``model``
out of the body, ``anthropic_version: "vertex-2023-10-16"`` in it, and ``Authorization: Bearer
<OAuth access token>`` (``VERTEX_ACCESS_TOKEN``, e.g. from ``gcloud auth print-access-token``).

Project and region: ``[tool.promptc.providers.vertex] project = ... region = ...``, else
``ANTHROPIC_VERTEX_PROJECT_ID`` / ``CLOUD_ML_REGION`` (the SDK's variables); the region defaults to
``global``. A missing project is E528. Breakpoints: Anthropic's placement with the Vertex spec's
limits; one TTL (5 minutes), so ``long`` retention places the same 5-minute markers. No top-level
``cache_control`` is sent.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from promptc.core.providers import SPECS
from promptc.core.providers.vertex import ANTHROPIC_VERSION, DEFAULT_REGION, base_url
from promptc.plan import Request
from promptc.runtime.errors import RuntimeSettingError
from promptc.runtime.providers.anthropic import AnthropicAdapter
from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall

_SPEC = SPECS["vertex"]


class VertexAnthropicAdapter(AnthropicAdapter):
    """Claude on Vertex AI: Anthropic's payload, Vertex's URL, body version and auth."""

    provider = "vertex"
    env_key = _SPEC.env_key
    base_url_env = _SPEC.base_url_env
    project: str | None = None
    region_setting: str | None = None

    @property
    def default_base_url(self) -> str:  # type: ignore[override]
        return base_url(self.region())

    def region(self) -> str:
        return self.region_setting or os.environ.get("CLOUD_ML_REGION") or DEFAULT_REGION

    def configured(self, settings: dict[str, Any]) -> "VertexAnthropicAdapter":
        """``project`` and ``region`` from ``[tool.promptc.providers.vertex]`` (strings; E528 otherwise)."""
        out = type(self)()
        for key, attr in (("project", "project"), ("region", "region_setting")):
            if key in settings:
                value = settings[key]
                if not isinstance(value, str) or not value or "/" in value:
                    raise RuntimeSettingError(f"error[E528]: tool.promptc.providers.vertex.{key}: {value!r} is not a "
                                              f"Google Cloud {key} name")
                setattr(out, attr, value)
        return out

    def headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"}

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        project = self.project or os.environ.get("ANTHROPIC_VERTEX_PROJECT_ID")
        if not project:
            raise RuntimeSettingError("error[E528]: a vertex target needs a Google Cloud project\n   = hint: set "
                                      "ANTHROPIC_VERTEX_PROJECT_ID, or project = \"...\" under "
                                      "[tool.promptc.providers.vertex]")
        if opts.retention == "long" and _SPEC.ttl_name(opts.model, "long") == _SPEC.ttl_name(opts.model, "short"):
            opts = replace(opts, retention="short")  # one TTL on Vertex: long buys the same 5 minutes
        call = super().build(request, opts, ctx)
        payload = {"anthropic_version": ANTHROPIC_VERSION, **{k: v for k, v in call.payload.items() if k != "model"}}
        for blocks in [payload.get("tools"), payload.get("system")] + [m.get("content") for m in payload["messages"]]:
            for b in blocks or []:
                if isinstance(b, dict) and isinstance(b.get("cache_control"), dict):
                    b["cache_control"] = {"type": "ephemeral"}
        verb = "streamRawPredict" if payload.get("stream") else "rawPredict"
        path = (f"/projects/{quote(project, safe='')}/locations/{quote(self.region(), safe='')}/publishers/anthropic/"
                f"models/{quote(opts.model, safe='@')}:{verb}")
        return WireCall(path, payload, call.marks, call.cache_key, call.headers)


__all__ = ["VertexAnthropicAdapter"]

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = VertexAnthropicAdapter
