"""Agents written with the official SDKs (sync and streaming) call the simulator through `promptc
observe`; each exhibits one cause of a cache miss, and the trace must name it, the first changed
segment (with a byte-level excerpt) and the dollar cost of the miss.

Oracles: token counts come from the simulator's usage as the official SDK types parse it (what was
written on the first call is the prefix a hit would have read); prices are the providers' published
ones, written here by hand: Claude Sonnet 4.5 $3/MTok input, 5-minute cache write 1.25x, cache read
0.1x (docs.anthropic.com/en/docs/about-claude/pricing, 2026-10); GPT-4.1 $2/MTok input, $0.50 cached
input (openai.com/api/pricing, 2026-10).
"""

from __future__ import annotations

import pytest

from tests.observe.conftest import ANTHROPIC_KEY, MODEL, OPENAI_KEY

SONNET_IN, SONNET_W5, SONNET_READ = 3.0e-6, 1.25, 0.1
GPT41_IN, GPT41_CACHED = 2.0e-6, 0.5e-6

RULES = ("You are the release assistant of the acme repository. Follow the checklist exactly, quote file "
         "paths, never invent version numbers, and say what you would verify before answering. ") * 12
TOOLS = [{"name": n, "description": f"{n} the repository. " * 20,
          "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}
         for n in ("read_file", "search_code", "run_tests", "list_dir")]


def _miss_cost_sonnet(written_then: int, read_now: int, wrote_now: int) -> float:
    """What a miss of ``written_then - read_now`` tokens cost: written (1.25x) instead of read (0.1x)."""
    missed = written_then - read_now
    assert wrote_now >= missed
    return missed * SONNET_IN * (SONNET_W5 - SONNET_READ)


def _inv(rec):
    assert rec["status"] == "ok", rec
    return rec["invalidation"]


def test_clock_value_in_the_system_prompt_anthropic_sync(rig):
    c = rig.anthropic()
    usages = []
    for minute in (0, 1):
        system = [{"type": "text", "text": f"Current time: 2026-12-06 09:1{minute}:07\n\n{RULES}",
                   "cache_control": {"type": "ephemeral"}}]
        usages.append(c.messages.create(model=MODEL, max_tokens=16, system=system,
                                        messages=[{"role": "user", "content": "What changed?"}]).usage)
    first, second = rig.records(2)
    assert first["invalidation"] is None
    inv = _inv(second)
    assert inv["reason"] == "segment_changed" and inv["segment"] == "system[0]"
    ex = inv["excerpt"]
    assert (ex["old_value"], ex["new_value"], ex["looks_like"]) == ("09:10:07", "09:11:07", "time")
    assert ex["byte_offset"] == len("Current time: 2026-12-06 09:1".encode())
    assert "09:10:07" in ex["before"] and "09:11:07" in ex["after"]
    written = usages[0].cache_creation_input_tokens
    assert inv["expected_read"] == written and inv["read"] == usages[1].cache_read_input_tokens == 0
    assert inv["miss_cost"] == pytest.approx(_miss_cost_sonnet(written, 0, usages[1].cache_creation_input_tokens))
    # the request's own cost, priced from the SDK's usage
    u = usages[1]
    assert second["cost"]["total"] == pytest.approx(
        u.input_tokens * SONNET_IN + u.cache_creation.ephemeral_5m_input_tokens * SONNET_IN * SONNET_W5
        + u.output_tokens * 15e-6)


def test_system_prompt_mutated_per_turn_openai_chat_streaming(rig):
    c = rig.openai()
    turns = []
    for open_files in (["api/app.py"], ["api/app.py", "web/main.tsx"]):
        system = f"Open files: {', '.join(open_files)}\n{RULES}\nAnswer briefly."
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": "Next step?"}]
        stream = c.chat.completions.create(model="gpt-4.1", messages=msgs, stream=True,
                                           stream_options={"include_usage": True})
        usage = [ch.usage for ch in stream if ch.usage is not None]
        turns.append(usage[-1])
    # a control: the first turn's exact request again is read from the cache (what a hit would read)
    control = c.chat.completions.create(model="gpt-4.1", messages=[
        {"role": "system", "content": f"Open files: api/app.py\n{RULES}\nAnswer briefly."},
        {"role": "user", "content": "Next step?"}]).usage
    recs = rig.records(3)
    inv = _inv(recs[1])
    assert inv["reason"] == "segment_changed" and inv["segment"] == "messages[0]"
    assert inv["excerpt"]["byte_offset"] == len("Open files: api/app.py")
    assert "web/main.tsx" in inv["excerpt"]["after"] and "web/main.tsx" not in inv["excerpt"]["before"]
    assert turns[1].prompt_tokens_details.cached_tokens == 0
    hit = control.prompt_tokens_details.cached_tokens
    assert hit > 0 and abs(inv["missed_tokens"] - hit) < 128  # automatic caching reads in 128-token steps
    assert inv["miss_cost"] == pytest.approx(inv["missed_tokens"] * (GPT41_IN - GPT41_CACHED))
    assert recs[2]["invalidation"] is None  # linked to the first turn: nothing changed, it hit


def test_tools_reordered_anthropic_streaming(rig):
    c = rig.anthropic()
    usages = []
    for order in ([0, 1, 2, 3], [2, 0, 3, 1]):
        tools = [dict(TOOLS[i]) for i in order]
        tools[-1]["cache_control"] = {"type": "ephemeral"}
        with c.messages.stream(model=MODEL, max_tokens=16, tools=tools,
                               messages=[{"role": "user", "content": "Run the tests."}]) as s:
            usages.append(s.get_final_message().usage)
    inv = _inv(rig.records(2)[1])
    assert inv["reason"] == "tools_reordered" and inv["segment"] == "tools[0]:run_tests"
    assert "tools[0]:run_tests, tools[1]:read_file, tools[2]:list_dir, tools[3]:search_code" in inv["detail"]
    written = usages[0].cache_creation_input_tokens
    assert written > 0 and usages[1].cache_read_input_tokens == 0
    assert inv["expected_read"] == written
    assert inv["miss_cost"] == pytest.approx(_miss_cost_sonnet(written, 0, usages[1].cache_creation_input_tokens))


def test_ttl_expiry_anthropic_sync(rig):
    c = rig.anthropic()
    system = [{"type": "text", "text": RULES, "cache_control": {"type": "ephemeral"}}]
    ask = lambda: c.messages.create(model=MODEL, max_tokens=16, system=system,  # noqa: E731
                                    messages=[{"role": "user", "content": "Status?"}]).usage
    u1 = ask()
    rig.sim.advance(120)
    u2 = ask()  # within the 5-minute TTL: a hit, which refreshes the entry
    rig.sim.advance(301)
    u3 = ask()
    r1, r2, r3 = rig.records(3)
    assert r2["invalidation"] is None and u2.cache_read_input_tokens == u1.cache_creation_input_tokens
    inv = _inv(r3)
    assert inv["reason"] == "ttl_expired" and inv["segment"] == "system[0]"
    assert inv["gap_s"] == pytest.approx(301) and inv["ttl_s"] < 301
    assert u3.cache_read_input_tokens == 0
    assert inv["miss_cost"] == pytest.approx(_miss_cost_sonnet(u1.cache_creation_input_tokens, 0,
                                                                u3.cache_creation_input_tokens))


def test_prefix_below_the_minimum_anthropic_streaming(rig):
    c = rig.anthropic()
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    usages = []
    for _ in range(2):
        with c.messages.stream(model=MODEL, max_tokens=16, system=system,
                               messages=[{"role": "user", "content": "Hi"}]) as s:
            usages.append(s.get_final_message().usage)
    recs = rig.records(2)
    for rec, u in zip(recs, usages):
        inv = _inv(rec)
        assert inv["reason"] == "below_minimum" and inv["segment"] == "system[0]"
        assert u.cache_creation_input_tokens == 0 and u.cache_read_input_tokens == 0
    # the repeated marked prefix (the system block) would have been read: its cost, at (1 - 0.1) x input
    inv = recs[1]["invalidation"]
    assert inv["missed_tokens"] > 0
    assert inv["miss_cost"] == pytest.approx(inv["missed_tokens"] * SONNET_IN * (1 - SONNET_READ))


def test_marker_after_volatile_content_anthropic_sync(rig):
    c = rig.anthropic()
    usages = []
    for sid in ("3f2c9a10-7b1e-4c2d-9e8f-0a1b2c3d4e5f", "9d8e7f60-1a2b-4c3d-8e9f-a0b1c2d3e4f5"):
        system = [{"type": "text", "text": RULES},
                  {"type": "text", "text": f"Session {sid}", "cache_control": {"type": "ephemeral"}}]
        usages.append(c.messages.create(model=MODEL, max_tokens=16, system=system,
                                        messages=[{"role": "user", "content": "Go."}]).usage)
    # the oracle for what a well-placed marker reads: the simulator writes the stable block alone
    fixed = c.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "Go."}], system=[
        {"type": "text", "text": RULES, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Session 00000000-0000-4000-8000-000000000000"}]).usage
    inv = _inv(rig.records(2)[1])
    assert inv["reason"] == "marker_after_volatile" and inv["segment"] == "system[1]"
    assert inv["excerpt"]["looks_like"] == "uuid" and inv["excerpt"]["new_value"].startswith("9d8e7f60")
    assert "system[0]" in inv["detail"]
    stable = fixed.cache_creation_input_tokens
    assert inv["missed_tokens"] == stable and usages[1].cache_read_input_tokens == 0
    assert inv["miss_cost"] == pytest.approx(stable * SONNET_IN * (SONNET_W5 - SONNET_READ))


def test_different_cache_key_openai_responses(rig):
    c = rig.openai()
    usages = []
    for key in ("session-1", "session-2", "session-2"):
        usages.append(c.responses.create(model="gpt-4.1", instructions=None, prompt_cache_key=key,
                                         input=[{"role": "system", "content": RULES},
                                                {"role": "user", "content": "Summarize."}]).usage)
    recs = rig.records(3)
    inv = _inv(recs[1])
    assert inv["reason"] == "cache_key_changed" and "session-1" in inv["detail"] and "session-2" in inv["detail"]
    assert usages[1].input_tokens_details.cached_tokens == 0
    hit = usages[2].input_tokens_details.cached_tokens  # the same key again: what a hit reads
    assert hit > 0 and abs(inv["missed_tokens"] - hit) < 128
    assert inv["miss_cost"] == pytest.approx(inv["missed_tokens"] * (GPT41_IN - GPT41_CACHED))
    assert recs[2]["invalidation"] is None


def test_provider_side_miss_has_no_explanation_on_the_wire(rig):
    c = rig.anthropic()
    system = [{"type": "text", "text": RULES, "cache_control": {"type": "ephemeral"}}]
    usages = []
    for n in range(2):
        if n:
            rig.sim.sim.anthropic.entries.clear()  # the provider evicts: nothing on the wire says so
        with c.messages.stream(model=MODEL, max_tokens=16, system=system,
                               messages=[{"role": "user", "content": "Again."}]) as s:
            usages.append(s.get_final_message().usage)
    inv = _inv(rig.records(2)[1])
    assert inv["reason"] == "provider_side" and "no explanation on the wire" in inv["detail"]
    assert inv["miss_cost"] == pytest.approx(_miss_cost_sonnet(usages[0].cache_creation_input_tokens, 0,
                                                                usages[1].cache_creation_input_tokens))


def test_a_healthy_conversation_has_no_invalidation_and_links_turns(rig):
    c = rig.anthropic()
    history = []
    reads = []
    for q in ("First question?", "Second question?", "Third question?"):
        history.append({"role": "user", "content": [{"type": "text", "text": q,
                                                     "cache_control": {"type": "ephemeral"}}]})
        msgs = [dict(m, content=[{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]])
                for m in history[:-1]] + [history[-1]]
        r = c.messages.create(model=MODEL, max_tokens=16, system=[{"type": "text", "text": RULES}],
                              tools=TOOLS, messages=msgs)
        reads.append(r.usage.cache_read_input_tokens)
        history.append({"role": "assistant", "content": [{"type": "text", "text": r.content[0].text}]})
    recs = rig.records(3)
    assert [r["invalidation"] for r in recs] == [None, None, None]
    assert reads[1] > 0 and reads[2] > reads[1]
    assert recs[1]["observe"]["linked_to"] == recs[0]["observe"]["request"]
    assert len({r["plan"] for r in recs}) == 1
    assert recs[1]["expected_hit_tokens"] == reads[1]


def test_keys_never_reach_the_trace_and_bodies_are_excerpts(rig):
    c = rig.anthropic()
    c.messages.create(model=MODEL, max_tokens=16, system=RULES, messages=[{"role": "user", "content": "x"}])
    rig.openai().chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": RULES}])
    rig.records(2)
    text = rig.trace.read_text()
    assert ANTHROPIC_KEY not in text and OPENAI_KEY not in text and "OBSERVE-TEST-SECRET" not in text
    assert RULES not in text  # without --record-bodies: hashes and bounded excerpts only
    # the upstream still got the keys (forwarded), and nothing promptc-specific
    sent = rig.sim.sim.state.requests
    assert len(sent) == 2 and all("x-promptc-key" not in r["headers"] for r in sent)


def test_openai_responses_streaming_usage_is_read(rig):
    c = rig.openai()
    reads = []
    for _ in range(2):
        stream = c.responses.create(model="gpt-4.1", stream=True, input=[
            {"role": "system", "content": RULES}, {"role": "user", "content": "Status?"}])
        done = [e for e in stream if e.type == "response.completed"]
        reads.append(done[-1].response.usage.input_tokens_details.cached_tokens)
    recs = rig.records(2)
    assert [r["usage"]["cache_read"] for r in recs] == reads and reads[1] > 0
    assert recs[1]["invalidation"] is None and recs[1]["observe"]["stream_complete"] is True


def test_concurrent_agents_are_linked_each_to_its_own_conversation(rig):
    """Two agents talk at the same time (threads); each turn links to that agent's previous turn and a
    healthy conversation shows no invalidation, whatever order the responses finish in."""
    import concurrent.futures

    def agent(name: str) -> list[int]:
        import anthropic

        c = anthropic.Anthropic(base_url=f"{rig.proxy.url}/agent/{name}", api_key=ANTHROPIC_KEY, max_retries=0)
        history, reads = [], []
        for t in range(3):
            history.append({"role": "user", "content": f"{name} question {t}"})
            r = c.messages.create(model=MODEL, max_tokens=8, messages=history, system=[
                {"type": "text", "text": f"You are the {name} agent. {RULES}", "cache_control": {"type": "ephemeral"}}])
            reads.append(r.usage.cache_read_input_tokens)
            history.append({"role": "assistant", "content": r.content[0].text})
        return reads

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = dict(zip(("alpha", "beta"), pool.map(agent, ("alpha", "beta"))))
    recs = rig.records(6)
    for name, reads in results.items():
        mine = [r for r in recs if r["plan"] == name]
        assert len(mine) == 3 and [r["invalidation"] for r in mine] == [None] * 3
        assert [r["usage"]["cache_read"] for r in mine] == reads and reads[1] > 0
        assert mine[1]["observe"]["linked_to"] == mine[0]["observe"]["request"]


def test_automatic_caching_steps_are_not_a_miss(rig):
    """OpenAI's automatic cache reads in fixed steps: an unchanged prompt read up to the last step is a hit."""
    c = rig.openai()
    prompt = RULES + "Extra context for this task. " * 12
    usages = [c.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": prompt}]).usage
              for _ in range(2)]
    recs = rig.records(2)
    read = usages[1].prompt_tokens_details.cached_tokens
    assert 0 < read < usages[1].prompt_tokens * 0.9  # more than the tolerance short of the whole prompt...
    assert recs[1]["invalidation"] is None  # ...yet not reported as a miss


def test_gemini_clock_in_the_system_instruction_sync_and_streaming(rig):
    """The official google-genai SDK (sync, then streaming) against the simulator's implicit cache."""
    from google import genai
    from google.genai import types

    from tests.observe.conftest import GEMINI_MODEL

    c = genai.Client(api_key="gemini-OBSERVE-TEST-SECRET",
                     http_options=types.HttpOptions(base_url=rig.proxy.url, api_version="v1beta"))
    metas = []
    for minute in (0, 0, 1):
        cfg = types.GenerateContentConfig(system_instruction=f"Now: 08:1{minute}\n{RULES}")
        if minute:
            chunks = list(c.models.generate_content_stream(model=GEMINI_MODEL, contents="Status?", config=cfg))
            metas.append(chunks[-1].usage_metadata)
        else:
            metas.append(c.models.generate_content(model=GEMINI_MODEL, contents="Status?", config=cfg).usage_metadata)
    recs = rig.records(3)
    assert recs[1]["invalidation"] is None and recs[1]["usage"]["cache_read"] == metas[1].cached_content_token_count
    inv = _inv(recs[2])
    assert inv["reason"] == "segment_changed" and inv["segment"] == "systemInstruction.parts[0]"
    assert (inv["excerpt"]["old_value"], inv["excerpt"]["new_value"]) == ("08:10", "08:11")
    assert recs[2]["observe"]["stream"] and (metas[2].cached_content_token_count or 0) == 0
    hit = metas[1].cached_content_token_count  # what the unchanged request read
    assert hit > 0 and inv["missed_tokens"] >= hit * 0.9
    # Gemini 2.5 Flash: $0.30/MTok input, implicit cache hits at 0.1x (ai.google.dev/gemini-api/docs/pricing, 2026-10)
    assert inv["miss_cost"] == pytest.approx(inv["missed_tokens"] * 0.30e-6 * (1 - 0.1))
    assert "OBSERVE-TEST-SECRET" not in rig.trace.read_text()
