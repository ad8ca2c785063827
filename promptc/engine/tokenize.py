"""Tokenizing a request for the engine: per-tenant, byte-bounded caching and special tokens as text.

Three properties matter on a shared engine (docs/security.md, "Shared engine"):

* **No cross-tenant timing signal.** Token ids of rendered pieces are cached per tenant
  (:class:`TokenCache`): a hit only ever comes from the same tenant's own earlier requests, so how
  fast a request is tokenized says nothing about what another tenant sent. The tokenizer's own
  word-level BPE cache (Hugging Face ``tokenizers`` keeps one per model) is shared by every caller,
  so the engine turns it off (:func:`disable_shared_word_cache`); measured, it costs nothing on
  English text.
* **Bounded memory.** The cache is bounded in bytes (token ids are stored as 4-byte arrays, and the
  piece text is counted), pieces longer than the model's context are never stored (they can never be
  used), and when the cache is full the tenant holding the most bytes loses its least recently used
  entry, so one tenant cannot flush another's entries wholesale.
* **Special tokens in content are text.** A message whose content contains a special-token string
  (``<|im_start|>`` …) is encoded in three parts: the chat template's header and trailer with special
  tokens, the content with special tokens disabled. Content without special-token strings (nearly
  all content) is encoded exactly as before, so token ids and cache keys do not change.

Tokenization calls ``encode_batch``, which releases the GIL (``encode`` holds it for the whole call:
3 MB of text blocked the event loop for 6 s), so a large request never stalls other requests.
"""

from __future__ import annotations

import sys
import threading
import uuid
from array import array
from collections import OrderedDict
from typing import Sequence

from promptc.tokenizers.chat import ChatTemplate

ENTRY_OVERHEAD = 200  # dict slot, OrderedDict link, array header: a conservative per-entry estimate


def disable_shared_word_cache(tokenizer) -> bool:
    """Turn off a Hugging Face BPE model's process-wide word cache (a cross-tenant timing channel).

    Returns whether the tokenizer had one to turn off.
    """
    model = getattr(getattr(tokenizer, "tok", None), "model", None)
    resize = getattr(model, "_resize_cache", None)
    if resize is None:
        return False
    resize(0)
    return True


class TokenCache:
    """``(tenant, piece) → token ids`` with a byte budget shared fairly between tenants. Thread-safe."""

    def __init__(self, budget_bytes: int = 64 << 20, max_entry_tokens: int | None = None):
        self.budget_bytes = int(budget_bytes)
        self.max_entry_tokens = max_entry_tokens
        self.bytes_used = 0
        self._tenants: dict[str, OrderedDict[str, array]] = {}
        self._tenant_bytes: dict[str, int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def entry_bytes(piece: str, ids: array) -> int:
        return sys.getsizeof(piece) + ids.itemsize * len(ids) + ENTRY_OVERHEAD

    def get(self, tenant: str, piece: str) -> tuple[int, ...] | None:
        with self._lock:
            entries = self._tenants.get(tenant)
            ids = entries.get(piece) if entries is not None else None
            if ids is None:
                return None
            entries.move_to_end(piece)
        return tuple(ids)

    def put(self, tenant: str, piece: str, ids: Sequence[int]) -> bool:
        """Store ids for a piece; False when the entry is too large to be worth (or able to be) cached."""
        if self.max_entry_tokens is not None and len(ids) > self.max_entry_tokens:
            return False
        arr = array("i", ids)
        cost = self.entry_bytes(piece, arr)
        if cost > self.budget_bytes // 4:  # no single piece may take over the cache
            return False
        with self._lock:
            entries = self._tenants.setdefault(tenant, OrderedDict())
            old = entries.pop(piece, None)
            if old is not None:
                self._account(tenant, -self.entry_bytes(piece, old))
            while self.bytes_used + cost > self.budget_bytes and self._evict_one(tenant, cost):
                pass
            entries[piece] = arr
            self._account(tenant, cost)
        return True

    def _account(self, tenant: str, delta: int) -> None:
        self.bytes_used += delta
        self._tenant_bytes[tenant] = self._tenant_bytes.get(tenant, 0) + delta

    def _evict_one(self, inserting: str, cost: int) -> bool:
        """Drop the LRU entry of the tenant that holds the most bytes (the inserter's pending entry counts)."""
        candidates = [t for t, e in self._tenants.items() if e]
        if not candidates:
            return False
        victim = max(candidates, key=lambda t: (self._tenant_bytes.get(t, 0) + (cost if t == inserting else 0),
                                                t == inserting))
        piece, ids = self._tenants[victim].popitem(last=False)
        self._account(victim, -self.entry_bytes(piece, ids))
        if not self._tenants[victim]:
            del self._tenants[victim]
            self._tenant_bytes.pop(victim, None)
        return True

    def tenant_bytes(self, tenant: str) -> int:
        with self._lock:
            return self._tenant_bytes.get(tenant, 0)

    def clear(self, tenant: str) -> None:
        with self._lock:
            for piece, ids in self._tenants.pop(tenant, {}).items():
                self.bytes_used -= self.entry_bytes(piece, ids)
            self._tenant_bytes.pop(tenant, None)


class RequestTokenizer:
    """Renders a conversation through the chat template and tokenizes it piece by piece."""

    def __init__(self, tokenizer, chat: ChatTemplate, cache: TokenCache):
        self.tokenizer = tokenizer
        self.chat = chat
        self.cache = cache
        self.specials = tuple(sorted(getattr(tokenizer, "special_tokens", ()) or (), key=len, reverse=True))
        self._plain = None  # a clone of the tokenizer that encodes special-token strings as text
        self._plain_lock = threading.Lock()
        self._max_token_chars: int | None = None

    # -- a cheap lower bound ----------------------------------------------------------------------
    @property
    def max_token_chars(self) -> int:
        """An upper bound on the characters one token can cover: the longest vocabulary entry.

        (A byte-level token's string has one character per byte, and a byte covers at most one character.)
        """
        if self._max_token_chars is None:
            tok = getattr(self.tokenizer, "tok", None)
            vocab = tok.get_vocab(with_added_tokens=True) if tok is not None else {}
            self._max_token_chars = max((len(t) for t in vocab), default=0) or 1 << 20
        return self._max_token_chars

    def min_tokens(self, segments: Sequence, messages: Sequence[dict] = ()) -> int:
        """A lower bound on a conversation's token count, without tokenizing (rejects hopeless prompts in O(1))."""
        chars = sum(len(s.content) for s in segments) + sum(len(m.get("content") or "") for m in messages)
        return chars // self.max_token_chars

    # -- encoders -------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Template text: special-token strings become special tokens. Releases the GIL."""
        if not text:
            return []
        return list(self.tokenizer.encode_batch([text])[0])

    def encode_text(self, text: str) -> list[int]:
        """User content: every character is text, special-token strings included."""
        if not text:
            return []
        return list(self._plain_encoder()([text])[0])

    def _plain_encoder(self):
        with self._plain_lock:
            if self._plain is None:
                tok = getattr(self.tokenizer, "tok", None)
                if tok is not None and hasattr(tok, "encode_special_tokens"):
                    from tokenizers import Tokenizer as HFTokenizer

                    clone = HFTokenizer.from_str(tok.to_str())
                    clone.encode_special_tokens = True  # set once on a private clone: thread-safe
                    if clone.model is not None and hasattr(clone.model, "_resize_cache"):
                        clone.model._resize_cache(0)
                    self._plain = lambda texts: [e.ids for e in clone.encode_batch(list(texts),
                                                                                   add_special_tokens=False)]
                elif getattr(self.tokenizer, "id", "") in ("cl100k_base", "o200k_base"):
                    self._plain = self.tokenizer.encode_batch  # tiktoken's encode_ordinary already
                else:
                    raise ValueError("this tokenizer cannot encode special-token strings as text; remove them "
                                     "from message content")
            return self._plain

    def has_special(self, content: str) -> bool:
        return any(s in content for s in self.specials)

    # -- pieces ---------------------------------------------------------------------------------
    def piece_ids(self, piece: str, tenant: str | None) -> tuple[int, ...]:
        """Token ids of one rendered piece, cached per tenant (``tenant=None`` bypasses the cache)."""
        if tenant is not None:
            hit = self.cache.get(tenant, piece)
            if hit is not None:
                return hit
        ids = tuple(self.encode(piece))
        if tenant is not None:
            self.cache.put(tenant, piece, ids)
        return ids

    def _content_ids(self, convo: list[dict], i: int, prev: str, piece: str) -> tuple[int, ...]:
        """A piece whose content holds special-token strings: header/trailer as template, content as text."""
        content = convo[i]["content"]
        sentinel = f"\ue000{uuid.uuid4().hex}\ue001"
        probe = self.chat.render(convo[:i] + [dict(convo[i], content=sentinel)])
        shaped = probe[len(prev):] if probe.startswith(prev) else ""
        k = shaped.find(sentinel)
        if k >= 0 and shaped.find(sentinel, k + 1) < 0:
            pre, post = shaped[:k], shaped[k + len(sentinel):]
            if piece == pre + content + post:
                return tuple(self.encode(pre) + self.encode_text(content) + self.encode(post))
        raise ValueError(f"message {i} contains a special-token string and the chat template does not place "
                         "message content verbatim, so it cannot be encoded safely as text; remove it")

    def tokenize(self, segments: Sequence, messages: Sequence[dict] = (), add_generation_prompt: bool = True,
                 tenant: str | None = None) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]], tuple[int, ...]]:
        """Per-segment ids, per-message ids and the generation-prompt ids of a conversation."""
        convo = [{"role": s.role, "content": s.content} for s in segments] + [dict(m) for m in messages]
        rendered = self.chat.split(convo, add_generation_prompt)
        ids: list[tuple[int, ...]] = []
        for i, piece in enumerate(rendered.pieces):
            content = convo[i].get("content")
            if isinstance(content, str) and self.has_special(content):
                ids.append(self._content_ids(convo, i, "".join(rendered.pieces[:i]), piece))
            else:
                ids.append(self.piece_ids(piece, tenant))
        gen = self.piece_ids(rendered.generation_prompt, tenant) if rendered.generation_prompt else ()
        return ids[: len(segments)], ids[len(segments):], gen
