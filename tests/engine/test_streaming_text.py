"""Streaming text: incremental detokenization (O(1) decode work per token) and stop strings."""

from __future__ import annotations

from promptc.engine import Engine, GenerationParams, SegmentIn
from promptc.engine.detok import TextStream

from .tiny import tiny_weights

SEGS = [SegmentIn.of("sys", "system", "You are a helpful assistant."),
        SegmentIn.of("q", "user", "List three colours, comma separated.")]


class CountingTokenizer:
    """Wraps a tokenizer and counts the token ids it decodes."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0
        self.decoded_ids = 0

    def decode(self, ids):
        self.calls += 1
        self.decoded_ids += len(ids)
        return self.inner.decode(ids)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_detokenization_work_is_linear_in_output_length(smollm_weights):
    engine = Engine(weights=tiny_weights(smollm_weights), budget_bytes=32 << 20)
    counting = CountingTokenizer(engine.tokenizer)
    engine.tokenizer = counting
    try:
        n = 400
        out = engine.complete("detok", SEGS, params=GenerationParams(max_tokens=n))
    finally:
        engine.close()
    assert len(out.token_ids) == n  # a random tiny model does not stop by itself
    assert out.text == counting.inner.decode(out.token_ids)
    # re-decoding the whole output per token would decode n(n+1)/2 = 80,200 ids; a window decodes a few
    assert counting.decoded_ids <= 8 * n
    assert counting.calls <= 3 * n


def test_text_stream_equals_full_decode_with_split_characters_and_stops(smollm_weights):
    tok = smollm_weights.tokenizer
    text = "Red, Green, Blue. 日本語のテキスト 🎉🎉 ünïcödé <|im_start|> done"
    ids = tok.encode(text)
    for stops in [(), ("",), ("Green",), ("🎉",), ("ü", "Blue"), ("nope",)]:
        ts = TextStream(tok, stops)
        streamed = "".join(ts.push(i) for i in ids) + ts.finish()
        full = tok.decode(ids)
        cuts = [full.find(s) for s in stops if s and s in full]
        expected = full[: min(cuts)] if cuts else full
        assert streamed == ts.text == expected, stops


def test_empty_stop_string_does_not_corrupt_streamed_text(engine):
    plain = engine.complete("stop-empty", SEGS, params=GenerationParams(max_tokens=20))
    for stop in [("",), ("", "zzz-never")]:
        params = GenerationParams(max_tokens=20, stop=stop)
        events = list(engine.stream("stop-empty", SEGS, params=params))
        streamed = "".join(e.text for e in events)
        assert streamed == events[-1].completion.text == plain.text
        assert engine.complete("stop-empty", SEGS, params=params).text == plain.text
