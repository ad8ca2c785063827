"""AWS Bedrock Converse end to end over loopback HTTP: the team example's three agents for several
turns, signed with botocore's real SigV4 signer and verified by the simulator.

Expected payloads, usage and cost are computed here from the parts (segment texts, the token counts
of what the simulator hashes, the documented cumulative minimum and the price table).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import random

import httpx
import pytest

from tests.price_oracle import genai_cost, reply_oracle
from promptc.runtime.client import AsyncClient, Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.errors import ProviderError, StreamInterrupted
from promptc.runtime.eventstream import Decoder, FrameError, encode
from promptc.runtime.layout import Candidate
from promptc.runtime.providers.bedrock import (AwsCredentialsMissing, BedrockAdapter, BedrockExtraMissing,
                                               place_cumulative, supports_long_ttl)
from promptc.runtime.sim import Simulator
from tests.aws_sim import KEY_ID, aws_sim_env

from .conftest import canon

AGENTS = ("backend", "frontend", "docs")
MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
TARGET = f"bedrock/{MODEL}"
PRICE_IN, PRICE_OUT = 3.0, 15.0  # Claude Sonnet 4.5 on Bedrock, USD per MTok (promptc/core/prices.py)
#: With a 100-token minimum the team example shows the cumulative rule: backend (67 + 47 tokens after
#: the rules) and frontend (63 + 41) get a second checkpoint, docs (52 + 26) does not.
MIN = 100


@pytest.fixture(autouse=True)
def aws_env(tmp_path):
    """The simulator's credentials in the environment, and nothing else of the machine's AWS setup."""
    with aws_sim_env(tmp_path):
        yield


@pytest.fixture()
def bsim():
    with Simulator(anthropic_min_tokens={"claude-sonnet-4-5": MIN, "claude-3-7-sonnet": MIN}) as s:
        yield s


@pytest.fixture()
def config():
    return RuntimeConfig.from_dict({"cache_limits": {"bedrock/": {"min_tokens": MIN}}})


def tool_specs(plan):
    return [{"toolSpec": {"name": t["name"], "description": t["description"], "inputSchema": {"json": t["parameters"]}}}
            for t in plan.segment("repo_tools").tools]


def expected_payload(plan, agent, turn_text, ttl="1h", two_points=True):
    point = {"cachePoint": {"type": "default", "ttl": ttl} if ttl else {"type": "default"}}
    system = [{"text": plan.segment("rules").content}] + ([point] if two_points else []) + [
        {"text": plan.segment(agent).content}, {"text": plan.segment(f"{agent}_memory").content}, point]
    return {"messages": [{"role": "user", "content": [{"text": turn_text}]}], "system": system,
            "inferenceConfig": {"maxTokens": 64}, "toolConfig": {"tools": tool_specs(plan)}}


def reply_tokens(ntok, total):
    return ntok(f"Simulated bedrock reply to a {total}-token prompt.")


def test_team_three_agents_several_turns_payload_usage_and_cost(team, bsim, config, ntok):
    client = Client(TARGET, base_url=bsim.url, retention="long", config=config)
    sessions = {a: team[a].bind() for a in AGENTS}
    rules = sum(ntok(canon(t)) for t in tool_specs(team["backend"])) + ntok(team["backend"].segment("rules").content)
    for turn in range(3):
        for agent in AGENTS:
            plan = team[agent]
            req = sessions[agent].render(file="api/users.py", query=f"turn {turn}: what should {agent} check?")
            reply = client.complete(req, max_tokens=64)
            turn_text = req.segments[-1].content
            sent = bsim.requests[-1]
            assert sent["path"] == f"/model/{MODEL}/converse"
            two = agent != "docs"  # docs adds 78 tokens after the rules: below the 100-token minimum
            assert sent["payload"] == expected_payload(plan, agent, turn_text, two_points=two)
            assert [m.segment for m in reply.breakpoints] == (["rules"] if two else []) + [f"{agent}_memory"]
            prefix = rules + ntok(plan.segment(agent).content) + ntok(plan.segment(f"{agent}_memory").content)
            total = prefix + ntok(turn_text)
            u = reply.usage
            if turn == 0 and agent == "backend":  # the first request writes both checkpoints at 1h
                assert (u.cache_read, u.cache_write, u.uncached) == (0, {"1h": prefix}, ntok(turn_text))
            elif turn == 0:  # the rules entry is read (docs: found by the lookback from its only checkpoint)
                assert (u.cache_read, u.cache_write, u.uncached) == (rules, {"1h": prefix - rules}, ntok(turn_text))
            else:
                assert (u.cache_read, u.cache_write, u.uncached) == (prefix, {}, ntok(turn_text))
            out = reply_tokens(ntok, total)
            assert u.output == out and u.prompt == total and u.semantics == "exclusive"
            assert u.raw["totalTokens"] == total + out
            # the price source's own price of this usage (genai-prices, computed in tests/price_oracle.py)
            assert reply.cost == pytest.approx(reply_oracle(TARGET, u), rel=1e-9)
            assert reply.request_id and reply.request_id.startswith("sim-")
    client.close()


def test_cumulative_minimum_drops_a_checkpoint_too_close_to_the_previous_one():
    """Minimum 1,024: checkpoints at 1,100 / 1,900 / 3,000 tokens → the one at 1,900 adds only 800."""
    wanted = [Candidate(2, "static", True), Candidate(0, "global", True), Candidate(1, "session", True)]
    marks = place_cumulative([0, 1, 2], [1100, 800, 1100], wanted, min_tokens=1024, max_breakpoints=4,
                             long_ttl=True)
    assert [(m.index, m.prefix_tokens, m.long) for m in marks] == [(0, 1100, True), (2, 3000, True)]
    # the second checkpoint needs ≥ 2,048 in all: with 2,000 it goes, with 2,100 it stays
    assert [m.index for m in place_cumulative([0, 1], [1024, 976], wanted[1:], min_tokens=1024,
                                              max_breakpoints=4, long_ttl=False)] == [0]
    assert [m.index for m in place_cumulative([0, 1], [1024, 1076], wanted[1:], min_tokens=1024,
                                              max_breakpoints=4, long_ttl=False)] == [0, 1]
    # at most 4, by priority
    many = [Candidate(i, "plan", True) for i in range(6)]
    assert [m.index for m in place_cumulative(list(range(6)), [2000] * 6, many[::-1], min_tokens=1024,
                                              max_breakpoints=4, long_ttl=False)] == [2, 3, 4, 5]


def test_no_checkpoint_below_the_real_minimum(team, bsim):
    """Sonnet 4.5's real minimum on Bedrock is 1,024 tokens: the ~450-token prefix gets none."""
    with Client(TARGET, base_url=bsim.url, retention="long", config=RuntimeConfig()) as c:
        reply = c.complete(team["docs"].bind().render(file="a.md", query="q"), max_tokens=64)
    assert "cachePoint" not in canon(bsim.requests[-1]["payload"]) and reply.breakpoints == []
    assert (reply.usage.cache_read, reply.usage.cache_write) == (0, {})


def test_simulator_counts_only_checkpoints_that_reach_the_cumulative_minimum(bsim, ntok):
    a, b = "alpha " * 150, "beta " * 60  # b adds fewer than 100 tokens after a
    assert ntok(a) >= MIN > ntok(b)
    point = {"cachePoint": {"type": "default"}}
    body = {"system": [{"text": a}, point, {"text": b}, point], "messages": [{"role": "user", "content": [
        {"text": "q"}]}], "inferenceConfig": {"maxTokens": 8}}
    first = signed_post(bsim, body).json()["usage"]
    assert first["cacheWriteInputTokens"] == ntok(a)  # the second checkpoint is ignored
    assert first["cacheDetails"] == [{"ttl": "5m", "inputTokens": ntok(a)}]
    assert signed_post(bsim, body).json()["usage"]["cacheReadInputTokens"] == ntok(a)


def test_short_retention_uses_the_default_ttl_and_none_sends_no_cache_points(team, bsim, config):
    req = team["backend"].bind().render(file="a.py", query="q")
    with Client(TARGET, base_url=bsim.url, retention="short", config=config) as c:
        reply = c.complete(req, max_tokens=64)
        assert bsim.requests[-1]["payload"] == expected_payload(team["backend"], "backend", req.segments[-1].content,
                                                                ttl=None)
        assert set(reply.usage.cache_write) == {"5m"}
    with Client(TARGET, base_url=bsim.url, retention="none", config=config) as c:
        reply = c.complete(req, max_tokens=64)
        assert "cachePoint" not in canon(bsim.requests[-1]["payload"])
        assert (reply.usage.cache_read, reply.usage.cache_write) == (0, {})


def test_long_retention_falls_back_to_5m_where_the_model_has_no_1h_ttl(team, bsim, config):
    old = "anthropic.claude-3-7-sonnet-20250219-v1:0"
    assert not supports_long_ttl(old) and supports_long_ttl("us.anthropic.claude-haiku-4-5-20251001-v1:0")
    req = team["backend"].bind().render(file="a.py", query="q")
    with Client(f"bedrock/{old}", base_url=bsim.url, retention="long", config=config) as c:
        reply = c.complete(req, max_tokens=64)
    assert bsim.requests[-1]["payload"] == expected_payload(team["backend"], "backend", req.segments[-1].content,
                                                            ttl=None)
    assert set(reply.usage.cache_write) == {"5m"} and not any(m.long for m in reply.breakpoints)
    # the simulator refuses a 1h cache point on that model, as Bedrock does
    body = {**bsim.requests[-1]["payload"], "system": [{"text": "x"}, {"cachePoint": {"type": "default", "ttl": "1h"}}]}
    r = signed_post(bsim, body, model=old)
    assert r.status_code == 400 and r.headers["x-amzn-errortype"].startswith("ValidationException")


def test_streaming_uses_the_event_stream_and_matches_the_non_streamed_reply(team, bsim, config):
    req = team["backend"].bind().render(file="a.py", query="stream me")
    with Client(TARGET, base_url=bsim.url, config=config) as c:
        events = list(c.stream(req, max_tokens=64))
        assert bsim.requests[-1]["path"] == f"/model/{MODEL}/converse-stream"
        again = c.complete(req, max_tokens=64)
    text = "".join(e.text for e in events if e.type == "text")
    done = events[-1]
    assert len(events) > 2 and done.type == "done" and done.reply.text == text == again.text
    assert done.reply.usage.prompt == again.usage.prompt
    assert done.reply.usage.cache_write == {"5m": again.usage.cache_read}  # the stream wrote, the next read
    assert done.reply.finish_reason == "end_turn"


def test_async_client_complete_and_stream(team, bsim, config):
    req = team["frontend"].bind().render(file="web/a.tsx", query="async")

    async def go():
        async with AsyncClient(TARGET, base_url=bsim.url, config=config) as c:
            first = await c.complete(req, max_tokens=64)
            events = [e async for e in c.stream(req, max_tokens=64)]
            return first, events

    first, events = asyncio.run(go())
    assert first.usage.cache_read == 0 and events[-1].reply.usage.cache_read == first.usage.cache_write_total


def test_a_dropped_stream_raises_stream_interrupted(team, bsim, config):
    bsim.inject(drop_after=3)
    with Client(TARGET, base_url=bsim.url, config=config) as c, pytest.raises(StreamInterrupted) as err:
        list(c.stream(team["docs"].bind().render(file="a", query="q"), max_tokens=64))
    assert err.value.code == "E505"


# -- signing ---------------------------------------------------------------------------------------------------------
def signed_post(sim, body, model=MODEL, secret=None, tamper=None):
    """POST ``body`` to the simulator's Converse route, signed by the adapter (botocore's SigV4Auth)."""
    url = f"{sim.url}/model/{model.replace(':', '%3A')}/converse"
    data = json.dumps(body).encode()
    adapter = BedrockAdapter()
    if secret is not None:
        import botocore.session

        adapter._session = botocore.session.Session()
        adapter._session.set_credentials(KEY_ID, secret)
    headers = adapter.sign("POST", url, {"content-type": "application/json"}, data)
    return httpx.post(url, content=tamper if tamper is not None else data, headers=headers)


def test_the_simulator_verifies_botocores_signature(bsim):
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    ok = signed_post(bsim, body)
    assert ok.status_code == 200, ok.text
    headers = bsim.requests[-1]["headers"]
    assert "authorization" not in headers and headers["x-amz-date"]  # recorded without the credential
    tampered = signed_post(bsim, body, tamper=json.dumps({"messages": [{"role": "user", "content": [
        {"text": "bye"}]}]}).encode())
    assert tampered.status_code == 403 and tampered.headers["x-amzn-errortype"].startswith("InvalidSignatureException")
    assert "signature we calculated does not match" in tampered.json()["message"]
    wrong = signed_post(bsim, body, secret="not-the-secret")
    assert wrong.status_code == 403 and wrong.headers["x-amzn-errortype"].startswith("InvalidSignatureException")
    unsigned = httpx.post(f"{bsim.url}/model/{MODEL}/converse", json=body)
    assert unsigned.status_code == 403 and unsigned.json() == {"message": "Missing Authentication Token"}


def test_a_rejected_signature_is_a_readable_provider_error(team, bsim, config, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with Client(TARGET, base_url=bsim.url, config=config) as c, pytest.raises(ProviderError) as err:
        c.complete(team["docs"].bind().render(file="a", query="q"), max_tokens=8)
    e = err.value
    assert (e.code, e.status, e.error_type, e.retryable) == ("E502", 403, "InvalidSignatureException", False)
    assert "signature we calculated does not match" in str(e) and e.request_id.startswith("sim-")
    assert "wrong-secret" not in str(e)


def test_validation_exception_is_a_readable_provider_error(team, bsim, config):
    five = [{"text": "x"}, *[{"cachePoint": {"type": "default"}}, {"text": "y"}] * 5]
    with Client(TARGET, base_url=bsim.url, config=config) as c, pytest.raises(ProviderError) as err:
        c.complete(team["docs"].bind().render(file="a", query="q"), max_tokens=8, extra={"system": five})
    assert (err.value.status, err.value.error_type) == (400, "ValidationException")
    assert "maximum of 4" in err.value.message and "Found 5" in err.value.message


def test_throttling_is_retried(team, bsim, config):
    bsim.inject(status=429, retry_after=0)
    with Client(TARGET, base_url=bsim.url, config=config) as c:
        assert c.complete(team["docs"].bind().render(file="a", query="q"), max_tokens=8).attempts == 2


def test_without_botocore_the_error_says_how_to_install_it(team, monkeypatch):
    real_import = builtins.__import__

    def no_botocore(name, *args, **kwargs):
        if name == "botocore" or name.startswith("botocore."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_botocore)
    c = Client(TARGET, base_url="http://127.0.0.1:9")
    req = team["docs"].bind().render(file="a", query="q")
    assert c.build(req).path == "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"  # building needs none
    with pytest.raises(BedrockExtraMissing) as err:
        c.complete(req)
    assert err.value.code == "E520" and "pip install 'promptc[bedrock]'" in str(err.value)


def test_without_credentials_the_error_names_the_variables(team, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AwsCredentialsMissing) as err:
        Client(TARGET, base_url="http://127.0.0.1:9").complete(team["docs"].bind().render(file="a", query="q"))
    assert err.value.code == "E521" and "AWS_ACCESS_KEY_ID" in str(err.value)


def test_region_comes_from_the_endpoint_then_the_environment(monkeypatch):
    a = BedrockAdapter()
    assert a.region("https://bedrock-runtime.eu-central-1.amazonaws.com/model/x/converse") == "eu-central-1"
    assert a.region("http://127.0.0.1:8700") == "us-west-2"
    assert a.default_base_url == "https://bedrock-runtime.us-west-2.amazonaws.com"
    assert Client(TARGET).base_url == "https://bedrock-runtime.us-west-2.amazonaws.com"


# -- the simulator's cache model -------------------------------------------------------------------------------------
def test_ttl_expiry_and_refresh_on_hit(team, bsim, config):
    req = team["backend"].bind().render(file="a.py", query="q")
    with Client(TARGET, base_url=bsim.url, retention="short", config=config) as c:
        first = c.complete(req, max_tokens=8)
        bsim.advance(299)
        assert c.complete(req, max_tokens=8).usage.cache_read == first.usage.cache_write_total  # refreshed
        bsim.advance(299)
        assert c.complete(req, max_tokens=8).usage.cache_read == first.usage.cache_write_total
        bsim.advance(301)
        expired = c.complete(req, max_tokens=8)
    assert expired.usage.cache_read == 0 and expired.usage.cache_write_total == first.usage.cache_write_total


def test_lookback_is_20_blocks(bsim, ntok):
    text = "word " * 120
    head = [{"text": f"{i} {text}"} for i in range(3)]
    point = {"cachePoint": {"type": "default"}}
    first = signed_post(bsim, {"system": head + [point], "messages": [{"role": "user", "content": [{"text": "q"}]}]})
    assert first.json()["usage"]["cacheWriteInputTokens"] == sum(ntok(b["text"]) for b in head)
    # the checkpoint itself is the 1st of the 20 positions it looks back over
    near = head + [{"text": f"near {i}"} for i in range(19)] + [point]  # the entry is the 20th position: found
    far = head + [{"text": f"far {i}"} for i in range(20)] + [point]  # the 21st: missed
    user = {"role": "user", "content": [{"text": "q"}]}
    assert signed_post(bsim, {"system": near, "messages": [user]}).json()["usage"]["cacheReadInputTokens"] > 0
    assert signed_post(bsim, {"system": far, "messages": [user]}).json()["usage"]["cacheReadInputTokens"] == 0


def test_simulator_enforces_the_documented_limits(bsim):
    point = {"cachePoint": {"type": "default"}}
    user = {"role": "user", "content": [{"text": "q"}]}
    mixed = [{"text": "a"}, {"cachePoint": {"type": "default", "ttl": "5m"}}, {"text": "b"},
             {"cachePoint": {"type": "default", "ttl": "1h"}}]
    cases = [({"system": [point], "messages": [user]}, "must follow"),
             ({"system": mixed, "messages": [user]}, "must not come after"),
             ({"messages": [{"role": "assistant", "content": [{"text": "a"}]}]}, "start with a user message"),
             ({"messages": [user, user]}, "alternate")]
    for body, phrase in cases:
        r = signed_post(bsim, body)
        assert r.status_code == 400 and r.headers["x-amzn-errortype"].startswith("ValidationException"), body
        assert phrase in r.json()["message"]


# -- event stream framing --------------------------------------------------------------------------------------------
def test_event_stream_frames_round_trip_through_botocores_parser():
    from botocore.eventstream import EventStreamBuffer

    msgs = [({":event-type": "contentBlockDelta", ":message-type": "event", ":content-type": "application/json"},
             json.dumps({"delta": {"text": f"piece {i} ✓"}}).encode()) for i in range(5)]
    data = b"".join(encode(h, p) for h, p in msgs)
    buf = EventStreamBuffer()
    buf.add_data(data)
    parsed = [(m.headers, m.payload) for m in buf]
    assert parsed == msgs
    rng = random.Random(7)
    dec, got, i = Decoder(), [], 0
    while i < len(data):  # any chunking decodes the same messages
        step = rng.randint(1, 40)
        got += dec.feed(data[i:i + step])
        i += step
    assert [(m.headers, m.payload) for m in got] == msgs and dec.pending == 0
    assert got[0].event == "contentBlockDelta"
    bad = bytearray(data)
    bad[20] ^= 0xFF
    with pytest.raises(FrameError) as err:
        Decoder().feed(bytes(bad))
    assert err.value.code == "E522"
    exc = Decoder().feed(encode({":message-type": "exception", ":exception-type": "throttlingException"}, b"{}"))
    assert exc[0].event == "exception:throttlingException"


# -- SDK conformance -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("retention", ["none", "short", "long"])
def test_payloads_validate_against_botocores_service_model(team, support, config, retention):
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shapes = {op: model.operation_model(op).input_shape for op in ("Converse", "ConverseStream")}
    history = [{"role": "user", "content": "hello " * 300}, {"role": "assistant", "content": "hi " * 300}]
    requests = [team[a].bind().render(file="f.py", query="q") for a in AGENTS]
    requests.append(support.bind(customer={"name": "Ada", "plan": "pro", "open_tickets": 0}).render(
        question="Refund?", history=history))
    c = Client(TARGET, retention=retention, config=config)
    for req in requests:
        for stream, op in ((False, "Converse"), (True, "ConverseStream")):
            call = c.build(req, max_tokens=100, temperature=0.2, stream=stream)
            report = ParamValidator().validate({"modelId": MODEL, **call.payload}, shapes[op])
            assert not report.has_errors(), report.generate_report()
            assert canon(call.payload).count("cachePoint") <= 4
    assert ParamValidator().validate({"modelId": MODEL, "messages": [], "cachePoint": {}},
                                     shapes["Converse"]).has_errors()  # the validator does catch unknown keys


def test_botocores_own_client_runs_against_the_simulator(team, bsim, config):
    """botocore signs (SigV4) and parses the simulator's answers, the event stream included."""
    import botocore.session

    payload = Client(TARGET, retention="long", config=config).build(
        team["backend"].bind().render(file="a", query="q"), max_tokens=64).payload
    sdk = botocore.session.get_session().create_client("bedrock-runtime", region_name="us-west-2",
                                                       endpoint_url=bsim.url)
    first = sdk.converse(modelId=MODEL, **payload)
    second = sdk.converse(modelId=MODEL, **payload)
    assert first["usage"]["cacheDetails"][0]["ttl"] == "1h"
    assert second["usage"]["cacheReadInputTokens"] == first["usage"]["cacheWriteInputTokens"] > 0
    assert first["output"]["message"]["content"][0]["text"].startswith("Simulated bedrock reply")
    assert bsim.requests[-1]["path"] == f"/model/{MODEL}/converse"
    streamed = sdk.converse_stream(modelId=MODEL, **payload)
    events = list(streamed["stream"])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == first["output"]["message"]["content"][0]["text"]
    assert events[-1]["metadata"]["usage"]["cacheReadInputTokens"] == second["usage"]["cacheReadInputTokens"]
