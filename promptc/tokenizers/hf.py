"""Hugging Face ``tokenizers`` backends: a local ``tokenizer.json`` and the tokenizer inside a GGUF file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

from tokenizers import AddedToken, Tokenizer as HFTokenizer, decoders, models, pre_tokenizers


class HFBackedTokenizer:
    """A :class:`tokenizers.Tokenizer` behind the promptc interface."""

    def __init__(self, tok: HFTokenizer, id_: str, special_tokens: Sequence[str], digest: str | None = None,
                 exact: bool = True, chat_template: str | None = None):
        self.tok = tok
        self.chat_template = chat_template
        self.source: str | None = None  # the file it was loaded from, when there is one
        self.id = id_
        self.exact = exact
        self.special_tokens = frozenset(special_tokens)
        self.digest = digest or "sha256:" + hashlib.sha256(tok.to_str().encode("utf-8")).hexdigest()
        self._vocab_bytes: dict[int, bytes] | None = None

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> bytes:
        piece = self.tok.id_to_token(token_id)
        if piece is None:
            return b""
        if piece in self.special_tokens:
            return piece.encode("utf-8")
        return _byte_level_decode(piece)

    def pre_split(self, text: str) -> list[tuple[int, int]]:
        pt = self.tok.pre_tokenizer
        if pt is None:
            return [(0, len(text))]
        return [span for _, span in pt.pre_tokenize_str(text)]


def _gpt2_byte_decoder() -> dict[str, int]:
    """The GPT-2 byte-level alphabet: printable stand-in character → raw byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_DECODER = _gpt2_byte_decoder()  # a constant table, built once at import


def _byte_level_decode(piece: str) -> bytes:
    """GPT-2 byte-level alphabet → raw bytes."""
    try:
        return bytes(_BYTE_DECODER[ch] for ch in piece)
    except KeyError:
        return piece.encode("utf-8")


def load_tokenizer_json(path: str | Path, id_: str | None = None) -> HFBackedTokenizer:
    """A local Hugging Face ``tokenizer.json`` (never downloaded)."""
    p = Path(path)
    tok = HFTokenizer.from_file(str(p))
    specials = [t.content for t in tok.get_added_tokens_decoder().values() if t.special]
    digest = "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
    out = HFBackedTokenizer(tok, id_ or f"hf:{p}", specials, digest)
    out.source = str(p)
    return out


def _field_strings(reader, key: str) -> list[str]:
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def cache_root() -> Path:
    """Where promptc keeps derived, re-creatable files (``$PROMPTC_CACHE_DIR`` or ``~/.cache/promptc``)."""
    env = os.environ.get("PROMPTC_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "promptc"


def load_gguf_tokenizer(path: str | Path, id_: str | None = None) -> HFBackedTokenizer:
    """The byte-level BPE tokenizer embedded in a GGUF file (its ``tokenizer.ggml.*`` metadata).

    Reading ~100k strings out of a GGUF takes seconds, so the built tokenizer is cached as
    ``tokenizer.json`` keyed by the file's path, size and mtime (a cache miss rebuilds it).
    """
    p = Path(path).resolve()
    st = p.stat()
    key = hashlib.sha256(f"{p}|{st.st_size}|{st.st_mtime_ns}|v2".encode()).hexdigest()[:24]
    cached = cache_root() / "tokenizers" / f"gguf-{key}.json"
    if cached.is_file():
        try:
            data = json.loads(cached.read_text(encoding="utf-8"))
            tok = HFBackedTokenizer(HFTokenizer.from_str(data["tokenizer"]), id_ or f"gguf:{p.name}",
                                    data["specials"], data["digest"], chat_template=data.get("chat_template"))
            tok.source = str(p)
            return tok
        except (ValueError, KeyError, OSError):
            pass  # a corrupt cache entry is rebuilt below
    tok = _build_gguf_tokenizer(p, id_)
    tok.source = str(p)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"tokenizer": tok.tok.to_str(), "specials": sorted(tok.special_tokens),
                                   "digest": tok.digest, "chat_template": tok.chat_template}), encoding="utf-8")
        tmp.replace(cached)
    except OSError:
        pass  # a read-only home only costs speed
    return tok


def _build_gguf_tokenizer(path: Path, id_: str | None) -> HFBackedTokenizer:
    import gguf

    reader = gguf.GGUFReader(str(path))
    model = bytes(reader.fields["tokenizer.ggml.model"].parts[-1]).decode()
    if model != "gpt2":
        raise ValueError(f"unsupported GGUF tokenizer model {model!r} (only byte-level BPE 'gpt2')")
    tokens = _field_strings(reader, "tokenizer.ggml.tokens")
    merges = _field_strings(reader, "tokenizer.ggml.merges")
    tf = reader.fields["tokenizer.ggml.token_type"]
    types = [int(tf.parts[i][0]) for i in tf.data]
    pre = bytes(reader.fields["tokenizer.ggml.pre"].parts[-1]).decode() if "tokenizer.ggml.pre" in reader.fields else ""
    tok = HFTokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)},
                                 merges=[tuple(m.split(" ", 1)) for m in merges], fuse_unk=False))
    splitters = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    if pre == "smollm":
        # llama.cpp's smollm pre-tokenizer splits \p{N} first, then applies the GPT-2 regex.
        splitters.insert(0, pre_tokenizers.Digits(individual_digits=True))
    elif pre not in ("gpt2", "default", ""):
        raise ValueError(f"unsupported GGUF pre-tokenizer {pre!r}; supported: smollm, gpt2")
    tok.pre_tokenizer = pre_tokenizers.Sequence(splitters)
    tok.decoder = decoders.ByteLevel()
    specials = [tokens[i] for i, t in enumerate(types) if t == 3]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    h = hashlib.sha256()
    for part in (model, pre, "\n".join(tokens), "\n".join(merges), ",".join(map(str, types))):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    template = None
    if "tokenizer.chat_template" in reader.fields:
        template = bytes(reader.fields["tokenizer.chat_template"].parts[-1]).decode("utf-8")
    return HFBackedTokenizer(tok, id_ or f"gguf:{Path(path).name}", specials, "sha256:" + h.hexdigest(),
                             chat_template=template)
