"""Tokenizer backends: the GGUF tokenizer equals the model's own; OpenAI encodings load offline."""

from __future__ import annotations

import subprocess
import sys

import pytest

from promptc.tokenizers import load_tokenizer

CORPUS = [
    "", "hello world", "Hello, World!", "def add(a, b):\n    return a + b\n", "    \t  indented\twith tabs   ",
    "line one\r\nline two\r\n", "\n\n\n", "日本語のテキスト、中文文本。한국어", "emoji 🎉🚀👩‍💻 mix", "1234567890 3.14159 -42 1e10",
    '{"key": [1, 2, {"nested": null}], "s": "quote \\" inside"}', "<|im_start|>user\nhi<|im_end|>\n",
    "CamelCaseIdentifiers and snake_case_names", "don't won't it's we'll they're", "a" * 300, "   leading spaces",
    "trailing spaces   ", "mixed\u00a0nbsp and\u200bzero-width", "<html><body class=\"x\">&amp;</body></html>",
    "SELECT * FROM users WHERE id = 42;", "Ünïcödé àçcènts", "$$\\frac{a}{b}$$", "tabs\t\t\tend",
]


def test_gguf_tokenizer_matches_transformers_on_a_varied_corpus(smollm_weights):
    from pathlib import Path

    import transformers

    path = Path(smollm_weights.source)
    ref = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    ours = load_tokenizer("gguf:smollm2")
    long_text = "\n".join(CORPUS) * 20
    for text in CORPUS + [long_text]:
        assert ours.encode(text) == ref.encode(text, add_special_tokens=False), text[:40]
        assert ours.decode(ours.encode(text)) == text


def test_engine_and_compiler_share_one_tokenizer_definition(smollm_weights):
    assert load_tokenizer("gguf:smollm2").digest == smollm_weights.tokenizer.digest


@pytest.mark.parametrize("name,expected", [("cl100k_base", [15339, 1917]), ("o200k_base", [24912, 2375])])
def test_openai_encodings(name, expected):
    tok = load_tokenizer(name)
    assert tok.encode("hello world") == expected
    assert tok.decode(tok.encode(CORPUS[9])) == CORPUS[9]
    assert tok.encode("<|endoftext|>") != [100257]  # special-token text in content is plain text
    assert b"".join(tok.token_bytes(t) for t in tok.encode("héllo 🎉")) == "héllo 🎉".encode()


def test_openai_encodings_load_with_the_network_disabled(tmp_path):
    code = ("import socket\n"
            "def deny(*a, **k): raise OSError('network disabled in this test')\n"
            "socket.socket.connect = deny; socket.create_connection = deny; socket.getaddrinfo = deny\n"
            "from promptc.tokenizers.tiktoken_backend import TiktokenTokenizer\n"
            "print(TiktokenTokenizer('o200k_base').encode('hello world'))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TIKTOKEN_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[24912, 2375]"


def test_unknown_tokenizer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown tokenizer"):
        load_tokenizer("sentencepiece:whatever")
