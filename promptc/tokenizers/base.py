"""One tokenizer interface for every target: encode, decode, a digest, and special tokens."""

from __future__ import annotations

from typing import Protocol, Sequence


class Tokenizer(Protocol):
    """What the compiler and the engine need from a tokenizer."""

    id: str  # registry id, e.g. "gguf:smollm2", "o200k_base", "hf:/path/tokenizer.json"
    digest: str  # sha256 of the tokenizer's definition: changes whenever ids could change
    exact: bool  # False when this is a proxy for a provider's unpublished tokenizer
    special_tokens: frozenset[str]

    def encode(self, text: str) -> list[int]: ...

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def token_bytes(self, token_id: int) -> bytes: ...

    def pre_split(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the pre-tokenizer's pieces (BPE merges never cross them)."""
        ...
