"""Gateway facts: where an LLM gateway reads the session id it routes (and keeps cache affinity) on.

A gateway sits between the client and a provider (or a fleet of self-hosted replicas) and picks the
upstream per request; sending one session id per conversation keeps a conversation on the upstream
whose prompt cache it warmed. Each gateway reads it from its own header (or body field). A target
is a gateway when ``[tool.promptc.providers.<provider>] gateway = "<name>"`` names one of
:data:`GATEWAYS` (``session_header = "..."`` names any other header); the client then sends the
plan's session id (its cache key: :func:`promptc.runtime.keys.session_key`) there.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptc.core.providers.spec import Source


@dataclass(frozen=True)
class GatewaySession:
    """Where gateway ``name`` reads a session id: an HTTP ``header`` or a top-level JSON ``body_field``."""

    name: str
    source: Source
    header: str | None = None
    body_field: str | None = None


GATEWAYS: dict[str, GatewaySession] = {g.name: g for g in (
    GatewaySession("openrouter", Source(
        "https://openrouter.ai/docs/guides/features/broadcast/overview", "2026-12-06",
        "`session_id` in the request body groups requests (also read for sticky provider routing: "
        "https://openrouter.ai/docs/guides/best-practices/prompt-caching)"), body_field="session_id"),
    GatewaySession("litellm", Source(
        "https://docs.litellm.ai/docs/proxy/ui_logs_sessions", "2026-12-06",
        "LiteLLM proxy session id; the docs' 'Max Iterations (Agent Loop Limits)' page sends it as the "
        "`x-litellm-session-id` header (or metadata.session_id)"), header="x-litellm-session-id"),
    GatewaySession("bifrost", Source(
        "https://docs.getbifrost.ai/providers/session-affinity", "2026-12-06",
        "session affinity keyed on `x-bf-session-id` (at most 255 runes)"), header="x-bf-session-id"),
    GatewaySession("dynamo", Source(
        "https://docs.nvidia.com/dynamo/dev/agents/identify-agent-sessions", "2026-12-06",
        "NVIDIA Dynamo frontend (vLLM/SGLang workers): `x-dynamo-session-id`, one id per reasoning chain"),
        header="x-dynamo-session-id"),
    GatewaySession("session-id", Source(
        "https://docs.merge.dev/merge-gateway/routing/cache-aware-routing", "2026-12-06",
        "the generic `X-Session-Id` header several gateways and load balancers hash on"), header="X-Session-ID"),
)}
