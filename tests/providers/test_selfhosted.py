"""vLLM and SGLang adapters end to end over loopback HTTP against the simulator's self-hosted servers:
the team example's three agents for several turns, the exact wire payload (``cache_salt``, the
routing header), normalized usage (a missing ``cached_tokens`` is unknown, not 0), cost 0 at local
prices with exact tokens, the settings and their errors, and SDK conformance."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.errors import RuntimeConfigError
from promptc.runtime.providers import ADAPTERS
from promptc.runtime.providers.openai import cache_key
from promptc.runtime.providers.selfhosted import (SGLangAdapter, VLLMAdapter, cache_salt, routing_key)
from promptc.runtime.sim.fleet import END, GENERATION_PROMPT, header
from promptc.tokenizers import load_tokenizer

from .conftest import canon
from .test_sdk_conformance import problems, requests

AGENTS = ("backend", "frontend", "docs")


@pytest.fixture(scope="module")
def encode():
    return load_tokenizer("o200k_base").encode


def fn_tools(plan):
    return [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                              "parameters": t["parameters"]}} for t in plan.segment("repo_tools").tools]


def prompt_ids(encode, tools, system, user):
    """The simulated server's chat template, by hand: tools, system, user, then the generation prompt."""
    return (encode(header("tools") + canon(tools) + END) + encode(header("system") + system + END) +
            encode(header("user") + user + END) + encode(GENERATION_PROMPT))


def lcp(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_registered_with_their_environment():
    assert ADAPTERS["vllm"] is VLLMAdapter and ADAPTERS["sglang"] is SGLangAdapter
    assert (VLLMAdapter.env_key, VLLMAdapter.base_url_env, VLLMAdapter.default_base_url) == \
        ("VLLM_API_KEY", "VLLM_BASE_URL", "http://127.0.0.1:8000/v1")
    assert SGLangAdapter.base_url_env == "SGLANG_BASE_URL" and not VLLMAdapter.key_required


def test_error_bodies_of_both_shapes_are_read():
    flat = {"object": "error", "message": "max_tokens is too large", "type": "BadRequestError", "code": 400}
    assert VLLMAdapter().error_details(flat) == ("BadRequestError", "max_tokens is too large")
    nested = {"error": {"message": "bad salt", "type": "BadRequestError"}}
    assert SGLangAdapter().error_details(nested) == ("BadRequestError", "bad salt")


def test_cache_salt_is_stable_43_chars_per_tenant():
    s = cache_salt("acme")
    assert len(s) == 43 and s == cache_salt("acme") != cache_salt("globex")
    assert set(s) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert cache_salt("acme", b"secret") != s and len(cache_salt("acme", b"secret")) == 43


def test_vllm_team_payload_salt_usage_and_cost(team, sim, encode):
    """vLLM: 16-token blocks; one tenant, so the three agents share the tools + rules blocks too."""
    client = Client("vllm/llama-4-scout", base_url=sim.url + "/vllm/v1", tenant="acme", config=RuntimeConfig())
    sessions = {a: team[a].bind() for a in AGENTS}
    seen: list[list[int]] = []
    for turn in range(3):
        for agent in AGENTS:
            plan = team[agent]
            req = sessions[agent].render(file=f"{agent}.py", query=f"turn {turn} for {agent}")
            reply = client.complete(req, max_tokens=32)
            system = "".join(plan.segment(s).content for s in ("rules", agent, f"{agent}_memory"))
            user = req.segments[-1].content
            got = sim.requests[-1]
            assert got["path"] == "/vllm/v1/chat/completions"
            assert got["payload"] == {"model": "llama-4-scout", "max_tokens": 32, "tools": fn_tools(plan),
                                      "messages": [{"role": "system", "content": system},
                                                   {"role": "user", "content": user}],
                                      "cache_salt": cache_salt("acme")}
            assert "x-smg-routing-key" not in got["headers"] and "authorization" not in got["headers"]
            ids = prompt_ids(encode, fn_tools(plan), system, user)
            read = min(max((lcp(p, ids) for p in seen), default=0) // 16, (len(ids) - 1) // 16) * 16
            u = reply.usage
            assert (u.uncached, u.cache_read, u.cache_write, u.semantics) == (len(ids) - read, read, {}, "inclusive")
            if turn == 0 and agent == "backend":
                assert read == 0
            elif turn == 0:  # the shared prefix: tools, the system header and the team rules
                assert read >= len(encode(header("tools") + canon(fn_tools(plan)) + END)) // 16 * 16
            else:  # the agent's previous turn: its whole stable prefix
                assert read >= len(ids) - len(encode(header("user") + user + END + GENERATION_PROMPT)) - 16
            assert u.output == len(encode(f"Simulated vllm reply to a {len(ids)}-token prompt."))
            assert reply.cost == 0.0 and reply.cost_detail.price_key == "vllm/"
            seen.append(ids)
    client.close()


def test_sglang_team_routing_header_and_token_granular_hits(team, sim, encode):
    """SGLang: ``X-SMG-Routing-Key`` from the plan's stable prefix + tenant; the radix cache hits to the token."""
    client = Client("sglang/qwen3-8b", base_url=sim.url + "/sglang/v1", tenant="globex", config=RuntimeConfig())
    sessions = {a: team[a].bind() for a in AGENTS}
    seen: list[list[int]] = []
    for turn in range(3):
        for agent in AGENTS:
            req = sessions[agent].render(file="f.py", query=f"question {turn}")
            reply = client.complete(req, max_tokens=16)
            got = sim.requests[-1]
            assert got["headers"]["x-smg-routing-key"] == routing_key(req, "globex") == cache_key(req, "globex")
            assert got["headers"]["x-smg-routing-key"].startswith("globex:")
            assert "cache_salt" not in got["payload"] and "routing_key" not in got["payload"]
            assert reply.cache_key == routing_key(req, "globex")
            ids = [t for m in ([header("tools") + canon(got["payload"]["tools"]) + END] +
                               [header(x["role"]) + x["content"] + END for x in got["payload"]["messages"]] +
                               [GENERATION_PROMPT]) for t in encode(m)]
            read = min(max((lcp(p, ids) for p in seen), default=0), len(ids) - 1)
            assert (reply.usage.cache_read, reply.usage.uncached) == (read, len(ids) - read)
            if turn:
                assert read > 400  # everything up to the turn's own question
            seen.append(ids)
    keys = {h["headers"]["x-smg-routing-key"] for h in sim.requests}
    assert len(keys) == 3  # one per agent, the same on every turn
    client.close()


def test_missing_cached_tokens_is_unknown_not_zero(team, sim):
    req = team["docs"].bind().render(file="a.md", query="q")
    httpx.post(sim.url + "/_sim/fleet", json={"name": "vllm", "report": "never"})
    with Client("vllm/m", base_url=sim.url + "/vllm/v1", config=RuntimeConfig()) as c:
        c.complete(req, max_tokens=8)
        r = c.complete(req, max_tokens=8)
    assert r.raw["usage"]["prompt_tokens_details"] is None
    assert (r.usage.cache_read, r.usage.uncached, r.usage.prompt) == (None, None, None)
    assert r.usage.cache_write == {} and r.usage.output > 0 and r.cost is None  # the split is unknown
    httpx.post(sim.url + "/_sim/fleet", json={"name": "vllm", "report": "nonzero"})  # some vLLM versions omit 0
    with Client("vllm/m", base_url=sim.url + "/vllm/v1", config=RuntimeConfig()) as c:
        first, second = c.complete(req, max_tokens=8), c.complete(req, max_tokens=8)
        streamed = list(c.stream(req, max_tokens=8))[-1].reply
    assert first.usage.cache_read is None and second.usage.cache_read > 0
    assert streamed.usage.cache_read == second.usage.cache_read and streamed.text == second.text
    assert sim.requests[-1]["payload"]["stream_options"] == {"include_usage": True}


def test_without_a_tenant_no_salt_unless_configured(team, monkeypatch):
    req = team["backend"].bind().render(file="a", query="q")
    assert "cache_salt" not in Client("vllm/m", config=RuntimeConfig()).build(req).payload
    always = RuntimeConfig.from_dict({"providers": {"vllm": {"cache_salt": "always"}}})
    assert Client("vllm/m", config=always).build(req).payload["cache_salt"] == cache_salt("default")
    off = RuntimeConfig.from_dict({"providers": {"vllm": {"cache_salt": "none"}}})
    assert "cache_salt" not in Client("vllm/m", tenant="acme", config=off).build(req).payload
    keyed = RuntimeConfig.from_dict({"providers": {"vllm": {"cache_salt_secret_env": "SALT_SECRET"}}})
    monkeypatch.setenv("SALT_SECRET", "s3cret")
    assert Client("vllm/m", tenant="acme", config=keyed).build(req).payload["cache_salt"] == \
        cache_salt("acme", b"s3cret")


def test_retention_changes_nothing_on_self_hosted_servers(team):
    req = team["docs"].bind().render(file="a", query="q")
    calls = [Client("vllm/m", tenant="t", retention=r, config=RuntimeConfig()).build(req) for r in ("none", "long")]
    assert calls[0].payload == calls[1].payload and "prompt_cache_key" not in calls[0].payload


def test_production_stack_session_header_and_body_routing_key(team):
    req = team["frontend"].bind().render(file="a", query="q")
    cfg = RuntimeConfig.from_dict({"providers": {"vllm": {"routing_header": "x-user-id", "routing_scope": "shared"}}})
    call = Client("vllm/m", tenant="acme", config=cfg).build(req)
    assert call.headers == {"x-user-id": routing_key(req, "acme", "shared")}
    other = team["docs"].bind().render(file="b", query="z")
    assert routing_key(other, "acme", "shared") == routing_key(req, "acme", "shared") != routing_key(req, "acme")
    body = RuntimeConfig.from_dict({"providers": {"sglang": {"routing_key_in_body": True, "routing_header": ""}}})
    call = Client("sglang/m", config=body).build(req)
    assert call.payload["routing_key"] == routing_key(req, None) and call.headers == {}


@pytest.mark.parametrize("setting,value,match", [
    ("cache_salt", "sometimes", "cache_salt: 'sometimes' is not one of tenant, always, none"),
    ("routing_header", "x key", "routing_header: 'x key' is not an HTTP header name"),
    ("routing_scope", "agent", "routing_scope: 'agent' is not one of plan, shared"),
    ("routing_key_in_body", "yes", "routing_key_in_body: expected true or false"),
    ("cache_salt_secret_env", "", "cache_salt_secret_env: expected the name"),
    ("routing", "on", "routing: unknown setting for vllm"),
])
def test_bad_settings_are_located_e507(setting, value, match):
    cfg = RuntimeConfig.from_dict({"providers": {"vllm": {setting: value}}})
    with pytest.raises(RuntimeConfigError, match=f"E528.*tool.promptc.providers.vllm.{match}"):
        Client("vllm/m", config=cfg)


def test_unset_salt_secret_is_e507(team, monkeypatch):
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    cfg = RuntimeConfig.from_dict({"providers": {"vllm": {"cache_salt_secret_env": "NO_SUCH_SECRET"}}})
    with pytest.raises(RuntimeConfigError, match="E528.*NO_SUCH_SECRET"):
        Client("vllm/m", tenant="t", config=cfg).build(team["docs"].bind().render(file="a", query="q"))


# -- SDK conformance ---------------------------------------------------------------------------------
EXTRA = {"vllm": {"cache_salt"}, "sglang": {"routing_key"}}


@pytest.mark.parametrize("provider", ["vllm", "sglang"])
def test_payloads_conform_with_extra_fields_as_extra_body(team, support, provider):
    cfg = RuntimeConfig.from_dict({"providers": {"sglang": {"routing_key_in_body": True}}})
    c = Client(f"{provider}/m", tenant="acme", config=cfg)
    for req in requests(team, support):
        payload = c.build(req, max_tokens=50).payload
        extra = {k: payload[k] for k in EXTRA[provider]}
        standard = {k: v for k, v in payload.items() if k not in extra}
        assert problems(CompletionCreateParamsNonStreaming, standard) == []
        assert problems(CompletionCreateParamsNonStreaming, payload) == [f"$.{k}: not a field of "
                                                                         "CompletionCreateParamsNonStreaming" for k in extra]


def test_official_openai_client_against_the_simulated_vllm(team, sim):
    payload = Client("vllm/m", tenant="acme", config=RuntimeConfig()).build(
        team["docs"].bind().render(file="a", query="q"), max_tokens=16).payload
    body = {k: v for k, v in payload.items() if k != "cache_salt"}
    sdk = openai.OpenAI(base_url=sim.url + "/vllm/v1", api_key="EMPTY", max_retries=0)
    sdk.chat.completions.create(**body, extra_body={"cache_salt": payload["cache_salt"]})
    again = sdk.chat.completions.create(**body, extra_body={"cache_salt": payload["cache_salt"]})
    assert isinstance(again, ChatCompletion) and again.usage.prompt_tokens_details.cached_tokens > 0
    assert sim.requests[-1]["payload"]["cache_salt"] == cache_salt("acme")
    other = sdk.chat.completions.create(**body, extra_body={"cache_salt": cache_salt("globex")})
    assert other.usage.prompt_tokens_details.cached_tokens == 0  # same prompt, another tenant
    chunks = list(sdk.chat.completions.create(**body, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].choices == []


# -- the model's facts: tokenizer, chat template, block ----------------------------------------------
def test_a_smollm2_model_is_served_with_its_own_tokenizer_and_chat_template(sim):
    """Regression (issue 21): the simulated server tokenized every model's prompt with ``o200k_base`` and
    rendered SmolLM2 with a tools message, where the spec's tokenizer for SmolLM2 models is ``gguf:smollm2``
    and SmolLM2's own template (its GGUF's ``tokenizer.chat_template``) adds a default system message before
    a non-system first message and never renders tools. The prompt is now what a vLLM server running the model
    builds: the template rendered by Jinja from the model's metadata, tokenized by the model's tokenizer."""
    from promptc.tokenizers.chat import ChatTemplate

    tok = load_tokenizer("gguf:smollm2")
    messages = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "What changed?"}]
    tools = [{"type": "function", "function": {"name": "read_file", "description": "Read a file.",
                                               "parameters": {"type": "object", "properties": {}}}}]
    expected = tok.encode(ChatTemplate(tok.chat_template).render(messages, add_generation_prompt=True))
    body = {"model": "HuggingFaceTB/SmolLM2-135M-Instruct", "messages": messages, "tools": tools, "max_tokens": 4}
    for _ in range(2):
        usage = httpx.post(sim.url + "/vllm/v1/chat/completions", json=body).json()["usage"]
    assert usage["prompt_tokens"] == len(expected)
    assert usage["prompt_tokens_details"]["cached_tokens"] == (len(expected) - 1) // 16 * 16


def test_sglang_matches_single_tokens_as_its_spec_says(sim):
    """Regression (issue 21): the SGLang spec said 16-token blocks while its radix cache (SGLang's default
    ``--page-size`` of 1) and the simulator match single tokens; the spec now says 1, and the simulator's
    server takes its block size from the spec."""
    from promptc.core.providers import SPECS

    assert SPECS["sglang"].limits("sglang/any").block_size == 1 == SPECS["sglang"].limits("sglang/any").min_tokens
    body = {"model": "qwen3-8b", "messages": [{"role": "user", "content": "x " * 40}], "max_tokens": 4}
    httpx.post(sim.url + "/sglang/v1/chat/completions", json=body)
    usage = httpx.post(sim.url + "/sglang/v1/chat/completions", json=body).json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == usage["prompt_tokens"] - 1  # not a multiple of 16
    assert usage["prompt_tokens"] % 16 != 1
