"""AWS Bedrock Converse facts (Claude models; ``POST /model/{id}/converse``)."""

from __future__ import annotations

from typing import Any, Mapping

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source

DOCS = "https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html"
LIMITS = Source(DOCS, "2026-10", "minimum tokens per cache checkpoint (cumulative); 4 checkpoints")

#: Bedrock model ids (``anthropic.claude-...``) and cross-region inference profiles
#: (``us.anthropic.claude-...``) get the limits of the family rows.
REGION_PREFIXES = ("", "us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.", "us-gov.")

_SHORT, _BOTH = ("5m",), ("5m", "1h")
#: (family, minimum tokens per checkpoint, TTLs a cache point takes): 1h on the families that list it
_FAMILIES = (
    ("claude-opus-4-7", 4096, _BOTH), ("claude-opus-4-6", 4096, _BOTH), ("claude-opus-4-5", 4096, _BOTH),
    ("claude-haiku-4-5", 4096, _BOTH), ("claude-fable-5", 512, _BOTH), ("claude-opus-5", 512, _BOTH),
    ("claude-mythos-5", 512, _SHORT), ("claude-mythos-preview", 4096, _SHORT), ("claude-opus-4-8", 1024, _BOTH),
    ("claude-sonnet-5", 1024, _BOTH), ("claude-sonnet-4-6", 1024, _BOTH), ("claude-sonnet-4-5", 1024, _BOTH),
)


def tool_spec(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A Converse ``toolSpec``."""
    out: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        out["description"] = tool["description"]
    out["inputSchema"] = {"json": tool.get("parameters") or {"type": "object"}}
    return out


def _rows() -> tuple[ModelLimits, ...]:
    rows = [ModelLimits("bedrock/", 1024, 4, "explicit", LIMITS, lookback=20, ttls=_SHORT)]
    rows += [ModelLimits(f"bedrock/{region}{prefix}{fam}", mn, 4, "explicit", LIMITS, lookback=20, ttls=ttls,
                         alias_of=None if prefix == "" else f"bedrock/{fam}")
             for region, prefix in [("", "")] + [(r, "anthropic.") for r in REGION_PREFIXES]
             for fam, mn, ttls in _FAMILIES]
    return tuple(rows)


def supports_ttl(model: str, ttl: str) -> bool:
    """Whether ``model``'s cache points take ``ttl``."""
    row = SPEC.limits(f"bedrock/{model}")
    return row is not None and ttl in (row.ttls or SPEC.ttls)


SPEC = ProviderSpec(
    name="bedrock",
    price_id="aws",  # genai-prices provider id
    render=("tools", "system", "messages"),
    system_roles=("system", "developer"),
    cumulative_minimum=True,  # LIMITS: "minimum tokens per cache checkpoint (cumulative)"
    prewarm_max_tokens=0,
    tool_def=lambda tool: {"toolSpec": tool_spec(tool)},
    tokenizer=lambda model: ("o200k_base", False),
    raw_join=True,
    estimated_tokens=True,
    env_key="AWS_ACCESS_KEY_ID",
    base_url_env="AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    default_base_url="https://bedrock-runtime.{region}.amazonaws.com",
    usage="exclusive",
    ttls={"5m": 300.0, "1h": 3600.0},
    retention={"short": "5m", "long": "1h"},
    write_multipliers={"5m": 1.25, "1h": 2.0},
    models=_rows(),
    sources={
        "system_roles": Source("botocore 1.44.18 bedrock-runtime service model, Converse", "2026-12-07",
                               "instructions go in the top-level `system` list; the API has no developer role"),
        "render": Source(DOCS, "2026-10", "checkpoints in toolConfig.tools, system, messages; prefix in that order"),
        "limits": LIMITS,
        "ttls": Source(DOCS, "2026-10", "5 minutes; 1 hour on the models that list it"),
        "write_multipliers": Source("https://aws.amazon.com/bedrock/pricing/", "2026-10",
                                    "1.25× (5m) / 2× (1h): unverified on Bedrock, Anthropic's rates"),
        "usage": Source("https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html",
                        "2026-10", "inputTokens excludes cacheReadInputTokens and cacheWriteInputTokens"),
        "env": Source("https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html", "2026-10",
                      "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
        "tokenizer": Source("docs/reference/provider-caching.md §6", "2026-10", "o200k_base proxy"),
    },
)
