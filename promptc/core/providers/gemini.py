"""Google Gemini API facts (``generateContent``, ``cachedContents``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source

DOCS = "https://ai.google.dev/gemini-api/docs/caching"
LIMITS = Source(DOCS, "2026-07-07", "minimum input token count for context caching, per model (page last updated "
                                    "2026-07-07: 3.5-3.8 Flash and 3.1 Pro 4,096; 2.5 Flash and Pro 2,048)")
#: Gemini 3 Flash Preview: 1,024 on the page of 2026-05-07 (no longer listed on 2026-07-07)
LIMITS_MAY = Source("https://ai.google.dev/gemini-api/docs/interactions/caching", "2026-05-07",
                    "Gemini 3 Flash Preview 1,024; Gemini 3 Pro Preview 4,096")


#: The cache a plain request gets (no ``cachedContent``: what the runtime sends unless a client enables the
#: ``cachedContents`` manager, promptc/runtime/providers/gemini_cache.py): implicit caching, on by default for
#: 2.5+ (docs/reference/provider-caching.md §3) — an automatic cache of whole parts and function declarations,
#: no writes reported. The rows below (one breakpoint, ``explicit``) model the ``cachedContents`` objects.
PLAIN_REQUEST_MODE = "automatic"
IMPLICIT = Source("docs/reference/provider-caching.md §3", "2026-10", "implicit caching on by default for 2.5+, no "
                                                                     "fees; promptTokenCount includes implicit hits")
TOOL_DEF = Source("google-genai 3.6.1 types.FunctionDeclaration", "2026-12-07",
                  "name, description, parameters_json_schema (parametersJsonSchema on the wire): one declaration "
                  "per tool in tools[].functionDeclarations")


def tool_def(tool: Mapping[str, Any]) -> dict[str, Any]:
    """One tool as the ``FunctionDeclaration`` the adapter sends (its JSON schema as ``parametersJsonSchema``)."""
    out: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        out["description"] = tool["description"]
    if tool.get("parameters") is not None:
        out["parametersJsonSchema"] = tool["parameters"]
    return out


def _row(model: str, minimum: int, source: Source = LIMITS) -> ModelLimits:
    return ModelLimits(f"gemini/{model}", minimum, 1, "explicit", source)


SPEC = ProviderSpec(
    name="gemini",
    price_id="google",  # genai-prices provider id
    render=("tools", "system", "messages"),
    system_roles=("system", "developer"),
    tool_def=tool_def,
    tokenizer=lambda model: ("o200k_base", False),
    raw_join=True,
    estimated_tokens=True,
    env_key="GEMINI_API_KEY",
    base_url_env="GOOGLE_GEMINI_BASE_URL",
    default_base_url="https://generativelanguage.googleapis.com",
    usage="inclusive",
    ttls={"implicit": 300.0, "5m": 300.0, "1h": 3600.0},
    retention={"short": "5m", "long": "1h"},
    models=(
        _row("", 2048),
        _row("gemini-2.5-flash", 2048),
        _row("gemini-2.5-pro", 2048),
        _row("gemini-3-flash", 1024, LIMITS_MAY),
        _row("gemini-3-pro", 4096, LIMITS_MAY),
        _row("gemini-3.1-pro", 4096),
        _row("gemini-3.5-flash", 4096),
        _row("gemini-3.6-flash", 4096),
        _row("gemini-3.7-flash", 4096),
        _row("gemini-3.8-flash", 4096),
    ),
    sources={
        "system_roles": Source("google-genai 3.6.1 types.GenerateContentConfig.system_instruction, "
                               "types.Content.role", "2026-12-07",
                               "instructions go in systemInstruction; a content role is user or model"),
        "render": Source("docs/reference/provider-caching.md §3", "2026-10",
                         "undocumented; tools, systemInstruction, contents as Anthropic and Bedrock"),
        "limits": LIMITS,
        "tool_def": TOOL_DEF,
        "plain_request_mode": IMPLICIT,
        "ttls": Source(DOCS, "2026-10", "explicit caches: ttl default 1 h, any value; implicit: undocumented "
                                        "(about 5 minutes, OpenRouter)"),
        "usage": Source("https://ai.google.dev/api/generate-content#UsageMetadata", "2026-10",
                        "promptTokenCount includes cachedContentTokenCount"),
        "env": Source("https://github.com/googleapis/python-genai", "2026-10",
                      "GEMINI_API_KEY (GOOGLE_API_KEY), GOOGLE_GEMINI_BASE_URL"),
        "tokenizer": Source("docs/reference/provider-caching.md §3", "2026-10", "o200k_base proxy"),
    },
)
