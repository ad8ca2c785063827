"""Claude on Google Cloud Vertex AI (``vertex/<model>@<version>``): Anthropic's Messages API behind
Vertex's ``rawPredict`` / ``streamRawPredict`` endpoints.

Read 2026-12-06: cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/prompt-caching
("The Vertex AI offering of these Anthropic models behaves as described in the Anthropic
documentation"; the cache lives five minutes, refreshed on each use; writes 25% above input, reads 90%
below; caches are per Google Cloud project) and .../claude/use-claude (model ids carry an ``@version``
suffix). The wire — no ``model`` in the body (it is in the URL), ``anthropic_version:
"vertex-2023-10-16"`` (platform.claude.com/docs/en/build-with-claude/claude-on-vertex-ai; the anthropic
2.17 SDK's client defaults the field to its own API version instead), the endpoint per region,
``ANTHROPIC_VERTEX_PROJECT_ID`` / ``CLOUD_ML_REGION``
/ ``ANTHROPIC_VERTEX_BASE_URL`` — is the official anthropic SDK's ``AnthropicVertex`` client
(``anthropic/lib/vertex/_client.py``, anthropic 2.17.0). The minimums are Anthropic's per model. Only
the 5-minute TTL is on the Vertex page: ``long`` retention buys 5 minutes here (the 1-hour TTL on
Vertex is unverified). The lead that Vertex rejects Anthropic's top-level automatic-caching field is
unverified; promptc's adapter never sends that field. Prices: genai-prices' ``google`` provider.
"""

from __future__ import annotations

from promptc.core.providers import anthropic
from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source

DOCS = "https://cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/prompt-caching"
SDK = "https://github.com/anthropics/anthropic-sdk-python/blob/main/src/anthropic/lib/vertex/_client.py"
READ = "2026-12-06"
LIMITS = Source(DOCS, READ, "behaves as Anthropic documents: Anthropic's per-model minimums, 4 breakpoints, 20-block "
                            "lookback")
#: the Messages API version Vertex takes in the body (the SDK's ``ANTHROPIC_API_VERSION`` for Vertex)
ANTHROPIC_VERSION = "vertex-2023-10-16"
#: region → API base (the SDK's mapping; any other region: ``https://{region}-aiplatform.googleapis.com/v1``)
REGION_BASES = {"global": "https://aiplatform.googleapis.com/v1", "us": "https://aiplatform.us.rep.googleapis.com/v1",
                "eu": "https://aiplatform.eu.rep.googleapis.com/v1"}
DEFAULT_REGION = "global"


def base_url(region: str) -> str:
    return REGION_BASES.get(region, f"https://{region}-aiplatform.googleapis.com/v1")


SPEC = ProviderSpec(
    name="vertex",
    price_id="google",  # genai-prices provider id
    render=anthropic.SPEC.render,
    system_roles=anthropic.SPEC.system_roles,
    prewarm_max_tokens=1,
    tool_def=anthropic.tool_def,
    tokenizer=anthropic.SPEC.tokenizer,
    raw_join=True,
    estimated_tokens=True,
    env_key="VERTEX_ACCESS_TOKEN",
    base_url_env="ANTHROPIC_VERTEX_BASE_URL",
    default_base_url=base_url(DEFAULT_REGION),
    usage="exclusive",
    ttls={"5m": anthropic.SPEC.ttls["5m"]},
    retention={"short": "5m", "long": "5m"},
    write_multipliers={"5m": anthropic.SPEC.write_multipliers["5m"]},
    models=tuple(ModelLimits("vertex/" + row.key.split("/", 1)[1], row.min_tokens, row.max_breakpoints, row.mode,
                             LIMITS, lookback=row.lookback) for row in anthropic.SPEC.models),
    sources={
        "system_roles": Source(DOCS, "2026-12-07", "as Anthropic: the Messages API's top-level `system`"),
        "render": Source(DOCS, READ, "as Anthropic: tools, system, messages"),
        "limits": LIMITS,
        "ttls": Source(DOCS, READ, "the cache lives five minutes, refreshed each time it is read"),
        "ttl_1h": Source(DOCS + "?hl=ja", "2026-12-07", "the page documents a 5-minute default and \"ttl\": \"1h\" in "
                                                      "cache_control (1 hour); promptc's Vertex adapter does not send "
                                                      "it yet, so long retention buys 5 minutes here"),
        "write_multipliers": Source(DOCS, READ, "cache writes 25% above the base input price, reads 90% below"),
        "usage": Source(DOCS, READ, "Anthropic's usage: input_tokens excludes cache reads and writes"),
        "wire": Source("https://platform.claude.com/docs/en/build-with-claude/claude-on-vertex-ai", READ,
                       "model in the URL (rawPredict/streamRawPredict, per the SDK's client), anthropic_version "
                       "vertex-2023-10-16 in the body"),
        "env": Source(SDK, READ, "ANTHROPIC_VERTEX_PROJECT_ID, CLOUD_ML_REGION, ANTHROPIC_VERTEX_BASE_URL; an OAuth "
                                 "access token (VERTEX_ACCESS_TOKEN is promptc's name for it)"),
        "tokenizer": anthropic.SPEC.sources["tokenizer"],
    },
)
