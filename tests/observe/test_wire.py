"""The sans-IO parts: splitting payloads in wire order, hostile bodies and responses, and masking."""

from __future__ import annotations

import gzip
import json

import pytest

from promptc.core.hashing import segment_hash
from promptc.observe.exchange import Exchange
from promptc.observe.explain import Observer, excerpt
from promptc.observe.wire import ResponseReader, WireError, split


def test_anthropic_wire_order_markers_and_hashes():
    p = {"model": "claude-sonnet-4-5", "max_tokens": 8,
         "tools": [{"name": "b", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
         "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
         "messages": [{"role": "user", "content": "hi"},
                      {"role": "assistant", "content": [{"type": "text", "text": "yo"}]}]}
    req = split("anthropic-messages", json.dumps(p).encode())
    assert [s.id for s in req.segments] == ["tools[0]:b", "system[0]", "messages[0].content[0]",
                                            "messages[1].content[0]"]
    assert [s.marker for s in req.segments] == ["5m", "1h", None, None]
    assert req.segments[1].hash == segment_hash("system", "S")  # the marker is not part of the identity
    # a top-level cache_control (automatic mode) marks the last block
    auto = split("anthropic-messages", json.dumps({**p, "cache_control": {"type": "ephemeral"}}).encode())
    assert auto.segments[-1].marker == "5m"


def test_openai_chat_and_responses_split():
    chat = split("openai-chat", json.dumps({"model": "gpt-5.6", "prompt_cache_key": "k", "messages": [
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "text", "text": "a", "prompt_cache_breakpoint": {}}]}]}).encode())
    assert [(s.id, s.kind, s.marker) for s in chat.segments] == [("messages[0]", "system", None),
                                                                 ("messages[1].content[0]", "message", "breakpoint")]
    assert chat.cache_key == "k"
    resp = split("openai-responses", json.dumps({"model": "gpt-4.1", "instructions": "I", "input": "q"}).encode())
    assert [s.id for s in resp.segments] == ["instructions", "input[0]"]


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"messages": [1]}', b'{"system": [7]}',
                                  b'{"tools": ["x"]}', b'{"messages": [{"role": "user", "content": [3]}]}'])
def test_hostile_bodies_are_wire_errors(body):
    with pytest.raises(WireError):
        split("anthropic-messages", body)


def test_response_reader_json_gzip_and_sse_events_split_across_chunks():
    r = ResponseReader("anthropic-messages", "application/json", "gzip")
    data = gzip.compress(json.dumps({"model": "m", "usage": {"input_tokens": 3}}).encode())
    for i in range(0, len(data), 7):
        r.feed(data[i:i + 7])
    r.finish()
    assert r.usage == {"input_tokens": 3} and r.model == "m"
    sse = (b'event: message_start\r\ndata: {"type":"message_start","message":{"model":"m","usage":'
           b'{"input_tokens":5,"cache_read_input_tokens":7}}}\r\n\r\nevent: message_delta\r\ndata: '
           b'{"type":"message_delta","usage":{"output_tokens":9}}\r\n\r\n')
    r = ResponseReader("anthropic-messages", "text/event-stream", None)
    for i in range(len(sse)):
        r.feed(sse[i:i + 1])
    r.finish()
    assert r.usage == {"input_tokens": 5, "cache_read_input_tokens": 7, "output_tokens": 9}
    br = ResponseReader("anthropic-messages", "application/json", "br")
    br.feed(b"\x00\x01")
    br.finish()
    assert br.unparsable and br.usage is None


def test_a_provider_message_quoting_the_key_is_masked(tmp_path):
    key = "sk-ant-api03-abcdefghijklmnop"
    ex = Exchange(Observer(), None, "/v1/messages", json.dumps(
        {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}).encode(),
        secrets=(key,))
    ex.response_started(401, {"content-type": "application/json"})
    ex.feed(json.dumps({"type": "error", "error": {"type": "authentication_error",
                                                   "message": f"invalid x-api-key {key}"}}).encode())
    rec = ex.finish()
    assert rec["status"] == "error" and key not in json.dumps(rec) and "***" in rec["error"]["message"]


def test_an_unsplittable_request_is_recorded_not_raised():
    ex = Exchange(Observer(), None, "/v1/chat/completions", b"\xff\xfe")
    ex.response_started(400, {"content-type": "application/json"})
    rec = ex.finish()
    assert rec["status"] == "error" and rec["error"]["message"].startswith("not analysed")


def test_excerpt_shows_the_whole_changed_value():
    ex = excerpt("id=3f2c9a10-7b1e-4c2d-9e8f-0a1b2c3d4e5f end", "id=9d8e7f60-1a2b-4c3d-8e9f-a0b1c2d3e4f5 end")
    assert ex["old_value"] == "3f2c9a10-7b1e-4c2d-9e8f-0a1b2c3d4e5f" and ex["looks_like"] == "uuid"
    assert ex["byte_offset"] == 3
    multi = excerpt("ünïcode 12", "ünïcode 13")
    assert multi["offset"] == 9 and multi["byte_offset"] == 11 and multi["looks_like"] == "counter"


def test_a_request_that_never_finishes_stops_holding_later_records_back():
    obs = Observer()
    body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8,
                       "messages": [{"role": "user", "content": "x"}]}).encode()
    stuck = Exchange(obs, None, "/v1/messages", body)  # its client went away: never finished
    later = Exchange(obs, None, "/v1/messages", body, order_wait_s=0.05)
    later.response_started(200, {"content-type": "application/json"})
    later.feed(json.dumps({"model": "m", "usage": {"input_tokens": 1, "output_tokens": 1}}).encode())
    assert later.finish()["status"] == "ok"
    assert stuck.ticket not in obs._open and not obs._open  # pruned: the next records do not wait for it
