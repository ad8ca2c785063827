"""The build context: what one build (or a whole process of builds) may keep between stages.

Like Jinja2's ``Environment``, a :class:`BuildContext` is created by the caller and passed to every
build that should share it; nothing is cached at module level. It holds the loaded tokenizers (a
:class:`~promptc.tokenizers.TokenizerRegistry`), the compiled chat templates and the incremental
token caches, so a process that compiles many times (tests, an editor integration, ``promptc lint``
comparing two versions) loads each tokenizer once. Drop the context and everything goes with it.
"""

from __future__ import annotations

import os
from pathlib import Path

from promptc.compiler.token_cache import TokenCache
from promptc.tokenizers import TokenizerRegistry
from promptc.tokenizers.base import Tokenizer
from promptc.tokenizers.chat import ChatTemplate


class BuildContext:
    """Tokenizers, chat templates and token caches shared by the builds that are given this context."""

    def __init__(self, tokenizers: TokenizerRegistry | None = None):
        self.tokenizers = tokenizers if tokenizers is not None else TokenizerRegistry()
        self._chat_templates: dict[str | None, ChatTemplate] = {}
        self._token_caches: dict[Path, TokenCache] = {}

    def tokenizer(self, tokenizer_id: str) -> Tokenizer:
        """The tokenizer for an id (loaded once per context). Raises ValueError for an unknown id."""
        return self.tokenizers.get(tokenizer_id)

    def chat_template(self, tok: Tokenizer) -> ChatTemplate:
        """The (compiled once) chat template shipped with a model's tokenizer; ChatML when it has none."""
        source = getattr(tok, "chat_template", None)
        if source not in self._chat_templates:
            self._chat_templates[source] = ChatTemplate(source)
        return self._chat_templates[source]

    def token_cache(self, cache_dir: Path, tok: Tokenizer) -> TokenCache:
        """The incremental token cache of ``tok`` under ``cache_dir`` (read from disk once per context)."""
        # absolute, not resolved: a committed symlink must stay visible to promptc.core.safewrite
        path = Path(os.path.abspath(cache_dir / f"tokens-{tok.digest.split(':')[1][:16]}.json"))
        cache = self._token_caches.get(path)
        if cache is None:
            cache = self._token_caches[path] = TokenCache.load(path)
        return cache

    def save(self) -> None:
        """Write every token cache that changed."""
        for cache in self._token_caches.values():
            cache.save()
