"""Tokenizer registry: one interface (:class:`~promptc.tokenizers.base.Tokenizer`), loaded once per process.

Ids: ``gguf:smollm2`` (the bundled model's tokenizer), ``gguf:/path/model.gguf``,
``hf:/path/tokenizer.json``, ``cl100k_base``, ``o200k_base``. Nothing is downloaded.
"""

from __future__ import annotations

import threading
from pathlib import Path

from promptc.tokenizers.base import Tokenizer

_CACHE: dict[str, Tokenizer] = {}
_LOCK = threading.Lock()


def get_tokenizer(tokenizer_id: str) -> Tokenizer:
    """The tokenizer for an id, loaded on first use and cached for the process."""
    with _LOCK:
        tok = _CACHE.get(tokenizer_id)
        if tok is None:
            tok = _load(tokenizer_id)
            _CACHE[tokenizer_id] = tok
        return tok


def _load(tokenizer_id: str) -> Tokenizer:
    if tokenizer_id in ("cl100k_base", "o200k_base"):
        from promptc.tokenizers.tiktoken_backend import TiktokenTokenizer

        return TiktokenTokenizer(tokenizer_id)
    if tokenizer_id.startswith("gguf:"):
        from promptc.tokenizers.hf import load_gguf_tokenizer

        ref = tokenizer_id[5:]
        if ref == "smollm2":
            from promptc.core.locate import default_model_path

            return load_gguf_tokenizer(default_model_path(), id_=tokenizer_id)
        return load_gguf_tokenizer(Path(ref), id_=tokenizer_id)
    if tokenizer_id.startswith("hf:"):
        from promptc.tokenizers.hf import load_tokenizer_json

        return load_tokenizer_json(Path(tokenizer_id[3:]), id_=tokenizer_id)
    raise ValueError(f"unknown tokenizer {tokenizer_id!r}: use gguf:smollm2, gguf:PATH, hf:PATH/tokenizer.json, "
                     "cl100k_base or o200k_base")


__all__ = ["Tokenizer", "get_tokenizer"]
