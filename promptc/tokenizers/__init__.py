"""Tokenizer registry: one interface (:class:`~promptc.tokenizers.base.Tokenizer`) behind string ids.

Ids: ``gguf:smollm2`` (the embedded model's tokenizer, shipped in ``data/``), ``gguf:/path/model.gguf``,
``hf:/path/tokenizer.json``, ``cl100k_base``, ``o200k_base``. Nothing is downloaded.

There is no process-wide cache: :func:`load_tokenizer` loads every time, and a
:class:`TokenizerRegistry` is the cache its owner keeps (a build context, a test session) and drops
when it is done, so a long-running process never grows behind its owner's back.
"""

from __future__ import annotations

import threading
from pathlib import Path

from promptc.tokenizers.base import Tokenizer


class TokenizerRegistry:
    """Tokenizers loaded on first use and kept for the registry's lifetime (thread-safe)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Tokenizer] = {}
        self._lock = threading.Lock()

    def get(self, tokenizer_id: str) -> Tokenizer:
        """The tokenizer for an id, loaded once per registry. Raises ValueError for an unknown id."""
        with self._lock:
            tok = self._loaded.get(tokenizer_id)
            if tok is None:
                tok = self._loaded[tokenizer_id] = load_tokenizer(tokenizer_id)
            return tok


def load_tokenizer(tokenizer_id: str) -> Tokenizer:
    """Load the tokenizer for an id (no caching: keep a :class:`TokenizerRegistry` for that)."""
    if tokenizer_id in ("cl100k_base", "o200k_base"):
        from promptc.tokenizers.tiktoken_backend import TiktokenTokenizer

        return TiktokenTokenizer(tokenizer_id)
    if tokenizer_id.startswith("gguf:"):
        from promptc.tokenizers.hf import load_gguf_tokenizer

        ref = tokenizer_id[5:]
        if ref == "smollm2":  # shipped with the core: compile and lint need neither the model nor gguf
            from promptc.tokenizers.bundled import load_bundled_smollm2

            return load_bundled_smollm2(tokenizer_id)
        return load_gguf_tokenizer(Path(ref), id_=tokenizer_id)
    if tokenizer_id.startswith("hf:"):
        from promptc.tokenizers.hf import load_tokenizer_json

        return load_tokenizer_json(Path(tokenizer_id[3:]), id_=tokenizer_id)
    raise ValueError(f"unknown tokenizer {tokenizer_id!r}: use gguf:smollm2, gguf:PATH, hf:PATH/tokenizer.json, "
                     "cl100k_base or o200k_base")


__all__ = ["Tokenizer", "TokenizerRegistry", "load_tokenizer"]
