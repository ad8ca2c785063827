"""The boundary checker never calls an unstable boundary stable (hypothesis, real tokenizers)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from promptc.compiler.align import ADVERSARIAL, Aligner, Side
from promptc.compiler.token_cache import TokenCache
from promptc.tokenizers import TokenizerRegistry

TOKENIZERS = ["gguf:smollm2", "o200k_base", "cl100k_base"]
PIECES = st.sampled_from(["a", "the", " ", "  ", "\n", "\n\n", "\t", "1", "42", ".", ",", "'s", "'t", "é", "日本", "🎉",
                          "def", "(", ")", "{", "}", "-", "_", "#", "<|im_end|>", "\r\n", "X", "ing", "Hello"])
TEXT = st.one_of(st.text(max_size=30), st.lists(PIECES, max_size=12).map("".join))


def _aligner(tokenizers: TokenizerRegistry, name: str) -> Aligner:
    return Aligner(tokenizers.get(name), TokenCache(None))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TOKENIZERS), TEXT, TEXT)
def test_static_verdict_equals_ground_truth(tokenizers, name, left, right):
    a = _aligner(tokenizers, name)
    tok = a.tok
    truly_stable = not left or not right or tok.encode(left + right) == tok.encode(left) + tok.encode(right)
    verdict = a.check(Side(left, False), Side(right, False)) is None
    assert verdict == truly_stable, (left, right)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TOKENIZERS), TEXT, TEXT)
def test_dynamic_stable_verdict_holds_for_any_continuation(tokenizers, name, left, continuation):
    """If a boundary before run-time text is called stable, every continuation keeps it stable."""
    a = _aligner(tokenizers, name)
    tok = a.tok
    if a.check(Side(left, False), Side("", True)) is None and left and continuation:
        assert tok.encode(left + continuation) == tok.encode(left) + tok.encode(continuation), (left, continuation)


def test_windowed_check_agrees_with_full_check_on_long_text(tokenizers):
    a = _aligner(tokenizers, "o200k_base")
    long_left = "word " * 400 + "end of the rules."
    for right in ADVERSARIAL:
        full = a.tok.encode(long_left + right) == a.tok.encode(long_left) + a.tok.encode(right)
        assert (a.check(Side(long_left, False), Side(right, False)) is None) == full


def test_merge_is_explained_with_the_tokens(tokenizers):
    a = _aligner(tokenizers, "gguf:smollm2")
    m = a.check(Side("Always answer in ", False), Side("English.", False))
    assert m is not None and m.merged == [" English"]
