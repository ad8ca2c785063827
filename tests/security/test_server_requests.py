"""Issue 9 item 6 (and 12): a bad request is a 400 with an OpenAI-shaped error, never a 500.

Deep nesting, huge integers, lone surrogates in every string field, seed overflow, non-finite
numbers, a too-long prompt on a streaming request (refused before the stream starts), and an
empty stop string (which used to drop one character per token from a stream).
"""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import seg

USER = {"role": "user", "content": "Say something."}
CONTEXT = 4096  # the tiny model's context length


def post_raw(client: httpx.Client, body: str | bytes, path: str = "/v1/chat/completions") -> httpx.Response:
    return client.post(path, content=body if isinstance(body, bytes) else body.encode("ascii"),
                       headers={"content-type": "application/json"})


def assert_400(r: httpx.Response, param: str | None = "any") -> dict:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["message"]
    if param != "any":
        assert err["param"] == param, err
    return err


@pytest.mark.parametrize("depth", [40, 5000, 200_000])
def test_deeply_nested_json_is_a_400(http_a, depth):
    body = '{"messages": [{"role": "user", "content": "x"}], "user": ' + "[" * depth + "]" * depth + "}"
    err = assert_400(post_raw(http_a, body))
    assert "deeper than 32" in err["message"]


def test_nesting_inside_a_known_field_is_a_400(http_a):
    body = '{"messages": [{"role": "user", "content": [' + '{"a": ' * 50 + "1" + "}" * 50 + "]}]}"
    assert_400(post_raw(http_a, body))


@pytest.mark.parametrize("field", ["max_tokens", "seed", "temperature", "n", "user"])
def test_integers_beyond_pythons_conversion_limit_are_a_400(http_a, field):
    body = '{"messages": [{"role": "user", "content": "x"}], "%s": 1%s}' % (field, "0" * 5000)
    assert_400(post_raw(http_a, body))


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 10**300])
def test_seed_overflow_names_seed(http_a, seed):
    assert_400(http_a.post("/v1/chat/completions", json={"messages": [USER], "seed": seed, "temperature": 0.7}),
               param="seed")


@pytest.mark.parametrize("seed", [2**64 - 1, -(2**63), 0])
def test_extreme_valid_seeds_sample(http_a, seed):
    r = http_a.post("/v1/chat/completions", json={"messages": [USER], "seed": seed, "temperature": 0.7,
                                                  "max_tokens": 3})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("body,param", [
    ('{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1e400}', "any"),
    ('{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}', "any"),
    ('{"messages": [{"role": "user", "content": "x"}], "top_p": -Infinity}', "any"),
    ('{"messages": [{"role": "user", "content": "x"}], "temperature": 1e400}', "temperature"),
    ('{"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000000000000000000000000000}', "max_tokens"),
])
def test_out_of_range_numbers_are_a_400(http_a, body, param):
    assert_400(post_raw(http_a, body), param)


SURROGATE = "\\ud800"
SURROGATE_BODIES = {
    "model": '{"model": "m%s", "messages": [{"role": "user", "content": "x"}]}',
    "message content": '{"messages": [{"role": "user", "content": "a%sb"}]}',
    "message name": '{"messages": [{"role": "user", "content": "x", "name": "%s"}]}',
    "content part": '{"messages": [{"role": "user", "content": [{"type": "text", "text": "%s"}]}]}',
    "role": '{"messages": [{"role": "user%s", "content": "x"}]}',
    "stop": '{"messages": [{"role": "user", "content": "x"}], "stop": "%s"}',
    "stop list": '{"messages": [{"role": "user", "content": "x"}], "stop": ["ok", "%s"]}',
    "unknown field": '{"messages": [{"role": "user", "content": "x"}], "user": "%s"}',
    "key": '{"messages": [{"role": "user", "content": "x"}], "%s": 1}',
    "segment id": '{"segments": [{"id": "%s", "hash": "sha256:00", "role": "user", "content": "x"}]}',
    "segment content": '{"segments": [{"id": "s", "hash": "sha256:00", "role": "user", "content": "%s"}]}',
    "segment hash": '{"segments": [{"id": "s", "hash": "%s", "role": "user", "content": "x"}]}',
    "low surrogate": '{"messages": [{"role": "user", "content": "\\udc00"}], "x": "%s"}',
}


@pytest.mark.parametrize("where", sorted(SURROGATE_BODIES))
def test_lone_surrogates_anywhere_are_a_400(http_a, where):
    body = SURROGATE_BODIES[where] % SURROGATE
    err = assert_400(post_raw(http_a, body))
    assert "surrogate" in err["message"] or err["param"], err


@pytest.mark.parametrize("where", ["segment content", "segment id", "key"])
def test_lone_surrogates_in_warm_are_a_400(http_a, where):
    assert_400(post_raw(http_a, SURROGATE_BODIES[where] % SURROGATE, "/v1/cache/warm"))


def test_a_valid_surrogate_pair_is_text(http_a):
    body = '{"messages": [{"role": "user", "content": "emoji \\ud83d\\ude00"}], "max_tokens": 2}'
    assert post_raw(http_a, body).status_code == 200


def test_invalid_utf8_is_a_400(http_a):
    assert_400(post_raw(http_a, b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}'))


def _words(n: int) -> str:
    return " ".join(f"w{i % 97}" for i in range(n))


def _stream(client, body):
    with client.stream("POST", "/v1/chat/completions", json=dict(body, stream=True)) as r:
        r.read()
        return r


@pytest.mark.parametrize("size", ["hopeless", "tokenized"])
def test_a_too_long_prompt_on_a_stream_is_a_400_before_the_stream(http_a, size):
    # "hopeless" is refused from a cheap lower bound; "tokenized" needs the real count (a bit over the context)
    content = "x" * 2_000_000 if size == "hopeless" else _words(CONTEXT // 2 + 50)
    for body in ({"messages": [{"role": "user", "content": content}]},
                 {"segments": [seg("big", "system", content)], "messages": [USER]}):
        r = _stream(http_a, body)
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/json"), r.text[:300]
        err = r.json()["error"]
        assert err["code"] == "context_length_exceeded" and err["param"] == "messages"


def test_max_tokens_past_the_context_is_a_400_on_streams_too(http_a, tiny_server):
    engine = tiny_server.engine
    content = _words(1000)
    prompt = sum(map(len, engine.tokenize([], [{"role": "user", "content": content}])[1])) + 3
    for stream in (False, True):
        body = {"messages": [{"role": "user", "content": content}], "max_tokens": 64, "stream": stream}
        assert prompt + 64 <= CONTEXT  # fits: 200
        assert http_a.post("/v1/chat/completions", json=body).status_code == 200

    def count(text):
        seg_ids, msg_ids, gen = engine.tokenize([], [{"role": "user", "content": text}])
        return sum(map(len, msg_ids)) + len(gen)

    k = CONTEXT - 40
    k -= count(" ".join(["hello"] * k)) - k  # " hello" is one token; remove the template's overhead
    long = " ".join(["hello"] * k)
    n = count(long)
    assert n < CONTEXT < n + 64, f"the prompt must fit alone and overflow with max_tokens ({n})"
    r = _stream(http_a, {"messages": [{"role": "user", "content": long}], "max_tokens": 64})
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens"


def _sse_text(client, body) -> str:
    text = []
    with client.stream("POST", "/v1/chat/completions", json=dict(body, stream=True)) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: {"):
                for ch in json.loads(line[6:]).get("choices", []):
                    text.append(ch["delta"].get("content") or "")
    return "".join(text)


def test_an_empty_stop_string_does_not_corrupt_a_stream(http_a):
    body = {"messages": [USER], "max_tokens": 24}
    whole = http_a.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert len(whole) > 5
    assert _sse_text(http_a, body) == whole
    assert _sse_text(http_a, dict(body, stop="")) == whole
    assert _sse_text(http_a, dict(body, stop=["", ""])) == whole


def test_overlong_stop_sequences_are_a_400(http_a):
    assert_400(http_a.post("/v1/chat/completions", json={"messages": [USER], "stop": "x" * 1000}), param="stop")


@pytest.mark.parametrize("temperature", [1e-300, 5e-324, 1e-45, 1e-5])
def test_vanishing_temperatures_sample_greedily_instead_of_failing(http_a, temperature):
    body = {"messages": [USER], "max_tokens": 4, "temperature": temperature, "seed": 1}
    r = http_a.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    greedy = http_a.post("/v1/chat/completions", json=dict(body, temperature=0)).json()
    assert r.json()["choices"][0]["message"]["content"] == greedy["choices"][0]["message"]["content"]


# Issue 9 item 11 (a non-streaming client that disconnects stops its generation) is tested against
# the scheduler that serves it, with a real socket: tests/server/test_disconnect.py.
