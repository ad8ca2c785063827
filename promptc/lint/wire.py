"""What a change costs on the wire: per target, the prefix the provider re-writes and no longer reads.

Providers cache prefixes of what they receive, in their own serialization order (Anthropic, Bedrock
and OpenAI send every tool definition before any system text), only at prefixes that reach the
model's minimum, and only where an entry was written (a breakpoint, or every boundary for automatic
and tree caches). Lint prices a change with that model, per target:

* the wire order of each side's cached segments (:func:`wire_order`);
* the prefixes the baseline wrote (:func:`written`): its breakpoints for the target (the plan's own,
  else the end of the static prefix and of the shared global block, in wire order) whose cumulative
  tokens reach the minimum — below the minimum *nothing was cached before*;
* the longest of those that is still a prefix of the new wire (``read``; an append-only segment that
  only grew keeps the prefix through its old entries), and the new version's last written prefix
  (``end``; below the minimum *nothing will be cached after*);
* re-written tokens = ``end - read``, tokens no longer read = baseline's last written prefix - read;
* on a keyed cache (the spec's ``keyed_cache``: OpenAI, Kimi) a request reads only what its own cache
  key wrote; promptc's adapters derive the key from the last static global segment
  (:func:`cache_key_anchor`), so a change to the shared block reads nothing (:func:`key_lost`). Where
  the key picks a server (xAI, Mistral, OpenRouter) a new key has no guaranteed hit: the same worst case;
* the mode is the one the runtime's plain requests get (:func:`plain_request_mode`: Gemini's implicit
  cache, not the ``cachedContents`` rows) unless [tool.promptc.cache_limits] sets ``mode``;
* an automatic cache (``mode = "automatic"``) reports no writes: ``write`` is 0 and the loss is the
  tokens no longer read. It reads the longest prefix it still matches (:func:`common_prefix`): with a
  block size, token prefixes in whole steps — the unchanged leading tokens of a changed segment count
  (``WireCounter.common_tokens``); without one, whole blocks: each tool definition, each segment's
  text part, or each message where the adapter joins a role's run into one text (``joined_messages``).
* a self-hosted server (vLLM, SGLang: a facts module with a ``chat_format``) caches the token ids of the
  *chat-templated* prompt, turn included (promptc/core/providers/selfhosted.py, which cites the servers'
  docs): lint renders the request the adapter sends — the tools, one message per same-role run, in the
  spec's render order — with the spec's template (role headers and ends, the template's own messages),
  tokenizes each piece with the spec's tokenizer as the server does, and counts the part every turn
  shares (:meth:`WireCounter.chat_wire`: through the header of the turn's message). A turn reads the
  longest token prefix of that it shares with an earlier prompt, in whole blocks of the spec's
  ``block_size`` (the server never reads the last prompt token, which the turn always follows).

The oracle for all of it is the provider simulator (tests/lint/test_oracle.py): the same numbers must
come out of a replay of the baseline's requests then the change's.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

from promptc.core.canonical import canonical_json
from promptc.core.providers import SPECS, limits_for, parse_target, spec_for
from promptc.core.wire import tool_texts, wire_role
from promptc.core.wire import wire_order as _core_wire_order
from promptc.lint.snapshot import PlanView, SegView


def wire_order(target: str, segs: Sequence[SegView]) -> list[int]:
    """Indices of ``segs`` in the order ``target``'s provider serializes (and hashes) them."""
    return list(_core_wire_order(target, segs))


class WireCounter:
    """Token counts of what the wire carries where it differs from a plan's count: a tools segment is
    sent as the provider's tool definitions (``spec.tool_def``: Anthropic's ``input_schema`` shape,
    OpenAI's function shape), not as the plan's canonical tool list. Owned by one lint run (the
    tokenizers it loads live as long as it does)."""

    def __init__(self):
        self._tok: dict[str, object] = {}
        self._n: dict[tuple[str, str], int] = {}
        self._ids: dict[tuple, list[list[int]]] = {}
        self._texts: dict[tuple[str, str], list[int]] = {}

    def tools_tokens(self, target: str, seg: SegView) -> int | None:
        """Tokens of ``seg``'s tool definitions on ``target``'s wire (None: the plan's count stands)."""
        if seg.tools is None or seg.hash is None:
            return None
        try:
            spec = spec_for(target)
            tok_id = parse_target(target).tokenizer
        except (KeyError, ValueError):
            return None
        if spec.tool_def is None or not tok_id or tok_id.startswith("gguf:"):
            return None
        key = (target, seg.hash)
        if key not in self._n:
            if tok_id not in self._tok:
                from promptc.tokenizers import load_tokenizer

                self._tok[tok_id] = load_tokenizer(tok_id)
            tok = self._tok[tok_id]
            self._n[key] = sum(len(tok.encode(canonical_json(spec.tool_def(t)))) for t in seg.tools)
        return self._n[key]

    def _pieces(self, target: str, seg: SegView) -> list[list[int]] | None:
        """``seg``'s token ids on ``target``'s wire, one list per block the wire carries (a tool
        definition each, or the segment's one text part); None when the side has no content (a lockfile)."""
        try:
            tok_id = parse_target(target).tokenizer
        except ValueError:
            return None
        if not tok_id or tok_id.startswith("gguf:"):
            return None
        texts = tool_texts(target, seg.tools) if seg.kind == "tools" and seg.tools is not None else None
        if texts is None:
            texts = [seg.content] if seg.content is not None else None
        if texts is None:
            return None
        key = (tok_id, seg.hash, seg.kind == "tools" and seg.tools is not None and target.split("/", 1)[0])
        if key not in self._ids:
            if tok_id not in self._tok:
                from promptc.tokenizers import load_tokenizer

                self._tok[tok_id] = load_tokenizer(tok_id)
            self._ids[key] = [list(self._tok[tok_id].encode(t)) for t in texts]
        return self._ids[key]

    def _encode(self, tok_id: str, text: str) -> list[int]:
        """``text``'s token ids with ``tok_id`` (a chat-template piece recurs in every plan and both sides)."""
        key = (tok_id, text)
        if key not in self._texts:
            if tok_id not in self._tok:
                from promptc.tokenizers import load_tokenizer

                self._tok[tok_id] = load_tokenizer(tok_id)
            self._texts[key] = list(self._tok[tok_id].encode(text))
        return self._texts[key]

    def chat_wire(self, target: str, segs: Sequence[SegView],
                  static_end: int) -> tuple[list[int], dict[str, tuple[int, int]]] | None:
        """On a target whose facts module renders a chat template (``chat_format``, ``chat_pieces``,
        ``tool_function``: the self-hosted servers), the token ids every turn's prompt starts with — the
        request the adapter builds (tools; one message per same-role run of the other segments, texts
        concatenated, promptc.runtime.providers.selfhosted) rendered through the static segments and the
        header of the first non-static one's message, each piece tokenized on its own — and per static
        segment id the (start, end) of its piece in them. Without a non-static segment the whole prompt,
        less its last token (always computed). None: no template, or a side without content (a lockfile)."""
        provider, _, model = target.partition("/")
        try:
            facts = facts_module(provider)
            tok_id = parse_target(target).tokenizer
        except (ImportError, ValueError, KeyError):
            return None
        if facts is None or not tok_id or not all(hasattr(facts, n) for n in ("chat_format", "chat_pieces",
                                                                              "tool_function")):
            return None
        static = segs[:static_end]
        if any((s.tools if s.kind == "tools" else s.content) is None for s in static):
            return None
        fmt = facts.chat_format(model)
        tools = [facts.tool_function(t) for s in static if s.kind == "tools" for t in s.tools]
        runs: list[list] = []  # [role, text, segment ids], as the adapter's runs()
        open_role = None
        for i, s in enumerate(segs):
            if s.kind == "tools":
                continue
            if i >= static_end:
                open_role = s.role
                break
            if runs and runs[-1][0] == s.role:
                runs[-1][1] += s.content
                runs[-1][2].append(s.id)
            else:
                runs.append([s.role, s.content, [s.id]])
        is_open = open_role is not None
        if is_open and not (runs and runs[-1][0] == open_role):
            runs.append([open_role, "", []])  # the turn's message: its header is the same on every turn
        sent = [r for k, r in enumerate(runs) if r[1] or (is_open and k == len(runs) - 1)]  # no empty message
        pieces = facts.chat_pieces({"tools": tools, "messages": [{"role": r[0], "content": r[1]} for r in sent]}, fmt)
        if is_open:  # the turn's message is open: its text and end, and the generation prompt, vary per turn
            pieces = pieces[:-1]
            pieces[-1] = pieces[-1][: len(pieces[-1]) - len(fmt.end)]
        added = len(pieces) - len(sent) - (0 if is_open else 1)  # the template's own pieces before the messages
        ids, bounds = [], []
        for piece in pieces:
            start = len(ids)
            ids += self._encode(tok_id, piece)
            bounds.append((start, len(ids)))
        if not is_open:
            ids = ids[:-1]
        spans: dict[str, tuple[int, int]] = {}
        tools_piece = added > 0 and bool(tools) and getattr(fmt, "renders_tools", True)
        for s in static:
            if s.kind == "tools":
                spans[s.id] = bounds[0] if tools_piece else (0, 0)
        for k, r in enumerate(sent):
            for sid in r[2]:
                spans[sid] = bounds[added + k]
        for s in static:  # a segment of an empty message: where the next piece starts
            spans.setdefault(s.id, (len(ids), len(ids)))
        return ids, {k: (min(a, len(ids)), min(b, len(ids))) for k, (a, b) in spans.items()}

    def common_tokens(self, target: str, a: SegView, b: SegView, *, token_level: bool) -> int:
        """Tokens of ``a``'s wire that ``b``'s wire starts with: the longest common token prefix
        (``token_level``: a cache that matches token prefixes), else the whole blocks (tool definitions)
        both start with — 0 when either side's content is unknown."""
        pa, pb = self._pieces(target, a), self._pieces(target, b)
        if pa is None or pb is None:
            return 0
        n = 0
        for x, y in zip(pa, pb):
            if x == y:
                n += len(x)
                continue
            if token_level:
                n += next((i for i, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
            break
        return n


@dataclass(frozen=True)
class Limits:
    min_tokens: int
    mode: str  #: explicit | automatic | tree
    block_size: int | None = None
    cumulative: bool = False  #: each written checkpoint adds ``min_tokens`` to the previous one
    keyed: bool = False  #: the cache is partitioned by the request's cache key (the spec's ``keyed_cache``)
    joined: bool = False  #: one text per message: whole blocks end at message ends (the spec's ``joined_messages``)

    @property
    def writes_reported(self) -> bool:
        """Whether the wire reports cache writes: explicit (breakpoint) caches do; an automatic cache's
        usage carries cached tokens only (its writes are free or unreported), so lint reports no
        written tokens there — only the tokens no longer read, at the uncached price."""
        return self.mode != "automatic"

    @property
    def token_level(self) -> bool:
        """An automatic cache that matches token prefixes in ``block_size`` steps (the spec's block size):
        the unchanged leading tokens of a changed segment are still read. Without a block size an
        automatic cache matches whole blocks (tool definitions, content parts)."""
        return self.mode == "automatic" and bool(self.block_size)

    def floor(self, tokens: int) -> int:
        """The longest prefix of ``tokens`` an entry can hold: 0 below the minimum, else whole steps."""
        if tokens < max(self.min_tokens, 1):
            return 0
        if not self.token_level:
            return tokens
        return self.min_tokens + (tokens - self.min_tokens) // self.block_size * self.block_size


@functools.cache
def facts_module(provider: str):
    """The facts module of ``promptc.core.providers`` that declares ``provider``'s spec (its ``SPEC`` or
    one of its ``SPECS``: vLLM and SGLang share promptc/core/providers/selfhosted.py), or None."""
    import promptc.core.providers as pkg

    spec = SPECS.get(provider)
    for info in pkgutil.iter_modules(pkg.__path__):
        if spec is None or info.name in pkg.SUPPORT_MODULES:
            continue
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        if any(s is spec for s in getattr(module, "SPECS", None) or (getattr(module, "SPEC", None),)):
            return module
    return None


def plain_request_mode(provider: str) -> str | None:
    """The cache mode a request without a cache object gets, where the provider's facts module declares
    one (``PLAIN_REQUEST_MODE``: Gemini's implicit cache beside its ``cachedContents``); None: the spec rows'."""
    if provider not in SPECS:
        return None
    try:  # the facts module, as promptc.runtime.simulate.rules.implicit_alongside reads it
        facts = importlib.import_module(f"promptc.core.providers.{provider}")
    except ImportError:
        return None
    return getattr(facts, "PLAIN_REQUEST_MODE", None)


def limits(target: str, cache_limits: Mapping[str, Mapping] | None) -> Limits:
    """The cache model lint prices ``target`` with: the project's [tool.promptc.cache_limits] first; else the
    spec's row, in the mode the runtime's plain requests get (:func:`plain_request_mode`)."""
    over = cache_limits or {}
    lim = limits_for(target, over)
    provider = target.split("/", 1)[0]
    spec = SPECS.get(provider)
    block = getattr(lim, "block_size", None)
    match = max((k for k in over if target.startswith(k)), key=len, default=None)
    mode = lim.mode if match is not None and "mode" in over[match] else plain_request_mode(provider) or lim.mode
    return Limits(lim.min_tokens or 0, mode, block, spec is not None and spec.cumulative_minimum,
                  spec is not None and spec.keyed_cache, spec is not None and spec.joined_messages)


@dataclass(frozen=True)
class Wire:
    """One side's cached prefix on one target, in wire order."""

    segs: tuple[SegView, ...]
    cum: tuple[int, ...]  #: tokens through each wire position
    marks: tuple[int, ...]  #: wire positions where entries are written (every one: automatic/tree)
    key: str | None = None  #: the cache key's identity on a keyed cache (:func:`cache_key_of`)
    key_positions: frozenset[int] = frozenset()  #: wire positions of the segments the key derives from
    #: on a chat-templated wire (:meth:`WireCounter.chat_wire`): the token ids every turn's prompt starts
    #: with, and where each wire position's piece starts in them (``cum``: where it ends)
    ids: tuple[int, ...] | None = None
    starts: tuple[int, ...] = ()

    @property
    def total(self) -> int:
        if self.ids is not None:
            return len(self.ids)
        return self.cum[-1] if self.cum else 0


def _same_on_wire(target: str, plan: PlanView, k: int, like: PlanView, j: int | None) -> bool:
    """Whether segment ``k`` of ``plan`` and segment ``j`` of ``like`` differ in their role only and
    ``target``'s wire carries them as the same bytes."""
    if j is None:
        return False
    a, b = plan.segments[k], like.segments[j]
    return (a.hash != b.hash and b.hash is not None and a.content is not None and a.content == b.content
            and a.role != b.role and a.kind == b.kind
            and wire_role(target, plan.segments, k) == wire_role(target, like.segments, j))


def wire_of(plan: PlanView, target: str, lim: Limits, like: PlanView | None = None,
            counter: WireCounter | None = None) -> Wire:
    """``plan``'s cached prefix on ``target`` in wire order. A side without breakpoints (a lockfile
    records none) takes them from ``like`` (the other side) by segment id."""
    cached = list(plan.segments[: plan.static_end()])
    if like is not None:  # a lockfile records no kind or level: take them from the other side
        other = {s.id: s for s in like.segments}
        def same(s):  # the other side's segment with the same bytes (its tool list when unchanged)
            o = other.get(s.id)
            return o if o is not None and o.hash == s.hash else None

        cached = [replace(s, kind=s.kind or getattr(other.get(s.id), "kind", None),
                          level=s.level or getattr(other.get(s.id), "level", None),
                          tools=s.tools if s.tools is not None else getattr(same(s), "tools", None)) for s in cached]
        # a segment whose role alone changed is the same bytes where the target's wire sends both roles
        # in its system region (promptc.core.wire.wire_role): on this target it keeps the other side's hash
        at = {s.id: j for j, s in enumerate(like.segments)}
        cached = [replace(s, hash=other[s.id].hash) if _same_on_wire(target, plan, k, like, at.get(s.id)) else s
                  for k, s in enumerate(cached)]
    order = wire_order(target, cached)
    segs = tuple(cached[i] for i in order)
    key, key_positions = None, frozenset()
    if lim.keyed and cached:
        anchor = cache_key_anchor(cached)
        key = cached[anchor].prefix_hash
        key_positions = frozenset(p for p, i in enumerate(order) if i <= anchor)
    chat = counter.chat_wire(target, cached + list(plan.segments[len(cached):]), len(cached)) \
        if counter is not None and lim.mode == "automatic" else None
    if chat is not None:
        ids, spans = chat
        marks = tuple(range(len(segs)))
        return Wire(segs, tuple(spans[s.id][1] for s in segs), marks, key, key_positions, tuple(ids),
                    tuple(spans[s.id][0] for s in segs))
    cum, total = [], 0
    for s in segs:
        wire_n = counter.tools_tokens(target, s) if counter is not None and s.kind == "tools" else None
        total += s.tokens.get(target, 0) if wire_n is None else wire_n
        cum.append(total)
    if lim.mode in ("tree", "automatic"):
        marks = tuple(range(len(segs)))
    else:
        planned = [k for k, s in enumerate(segs) if target in s.breakpoint]
        if not planned and like is not None and not any(s.breakpoint for s in plan.segments):
            ids = {s.id for s in like.segments if target in s.breakpoint}
            planned = [k for k, s in enumerate(segs) if s.id in ids]
        if not planned and segs:  # no breakpoints known: the adapter's default ones
            last_global = max((k for k, s in enumerate(segs) if s.level == "global"), default=None)
            planned = sorted({len(segs) - 1} | ({last_global} if last_global is not None else set()))
        marks = tuple(planned)
    return Wire(segs, tuple(cum), marks, key, key_positions)


def cache_key_anchor(segs: Sequence[SegView]) -> int:
    """The plan index of the segment whose ``prefix_hash`` promptc's adapters derive the cache key from
    (``promptc.runtime.providers.openai.cache_key``, scope ``shared``): the last static ``global``
    segment, else the last static one, else the first."""
    glob = [i for i, s in enumerate(segs) if s.stability == "static" and s.level == "global"]
    if glob:
        return glob[-1]
    return next((i for i in reversed(range(len(segs))) if segs[i].stability == "static"), 0)


def written(w: Wire, lim: Limits) -> list[int]:
    """Wire positions of ``w`` whose entry the provider writes (prefix at or above the minimum; on a
    cumulative target, in wire order, each at least the minimum past the previous written one)."""
    if not lim.cumulative:
        return [k for k in w.marks if w.cum[k] >= max(lim.min_tokens, 1)]
    out, prev = [], 0
    for k in w.marks:
        if w.cum[k] - prev >= max(lim.min_tokens, 1):
            out.append(k)
            prev = w.cum[k]
    return out


def _grew(old: SegView, new: SegView, lim: Limits) -> bool:
    """An append-only segment that only grew keeps the prefix through its old entries where the
    wire carries its entries as separate blocks (tool definitions on an explicit cache) or the cache
    matches any boundary (tree, automatic); a memory is one text block: its old entry is gone."""
    o, n = old.entries, new.entries
    if o is None or n is None or len(n) <= len(o) or n[: len(o)] != o:
        return False
    return lim.mode in ("tree", "automatic") or new.kind == "tools"


def still_prefix(old: Wire, new: Wire, k: int, lim: Limits, *, stop: int | None = None) -> bool:
    """Whether ``old``'s prefix through wire position ``k`` is still a prefix of ``new``. With
    ``stop`` (the wire position of one change), only that change counts: positions before it are
    taken as unchanged."""
    if k >= len(new.segs):
        return False
    if stop is not None:
        if k < stop:
            return True
        return k == stop and _grew(old.segs[k], new.segs[k], lim)
    for j in range(k):
        if old.segs[j].hash != new.segs[j].hash:
            return False
    return old.segs[k].hash == new.segs[k].hash or _grew(old.segs[k], new.segs[k], lim)


def _floor_block(tokens: int, lim: Limits) -> int:
    if lim.mode != "automatic" or not lim.block_size or tokens < lim.min_tokens:
        return tokens
    return lim.min_tokens + (tokens - lim.min_tokens) // lim.block_size * lim.block_size


#: (baseline segment, new segment) → tokens of the first that the second starts with, on one target
Common = Callable[[SegView, SegView], int]


@dataclass(frozen=True)
class WireLoss:
    """What one target's next request does after the change."""

    read: int  #: tokens still read from the cache
    write: int  #: tokens written (re-written) to the cache
    was_read: int  #: tokens the baseline's next request would have read
    end: int  #: the new version's last written prefix (0: nothing will be cached)
    lost_marks: tuple[str, ...]  #: segments whose written entry is no longer read
    lost_segments: tuple[str, ...] = ()  #: baseline segments whose cached tokens are no longer read

    @property
    def lost(self) -> int:
        """Cached tokens no longer read."""
        return max(0, self.was_read - self.read)


def key_lost(old: Wire, new: Wire, lim: Limits, stop: int | None = None) -> bool:
    """Whether ``new`` goes to another cache than ``old`` (a keyed cache whose key changed; with
    ``stop``, only when that change is in the prefix the key derives from)."""
    return lim.keyed and old.key != new.key and (stop is None or stop in old.key_positions)


def common_prefix(a: Wire, b: Wire, lim: Limits, common: Common | None = None, *, stop: int | None = None) -> int:
    """Tokens of ``b``'s wire that an entry written for ``a`` still matches (before the minimum and
    steps): 0 across cache keys; through every byte-identical segment, then what ``common`` says of the
    first differing one (its unchanged leading tokens, or whole tool definitions). With ``stop`` (one
    change), the positions before it are taken as unchanged."""
    if key_lost(a, b, lim, stop):
        return 0
    if a.ids is not None and b.ids is not None:  # a chat-templated wire: the longest common token prefix
        if stop is not None and stop >= len(a.segs):
            return a.total
        same = next((i for i, (x, y) in enumerate(zip(a.ids, b.ids)) if x != y), min(len(a.ids), len(b.ids)))
        return max(same, a.starts[stop] if stop is not None else 0)
    n = min(len(a.segs), len(b.segs))
    if stop is not None and stop >= len(a.segs):
        return a.total
    k = min(stop, n) if stop is not None else 0
    while stop is None and k < n and a.segs[k].hash == b.segs[k].hash:
        k += 1
    if lim.joined and not lim.token_level:  # whole messages only: back to the last message both end at
        while k > 0 and not (_message_end(a.segs, k - 1) and _message_end(b.segs, k - 1)):
            k -= 1
    tokens = a.cum[k - 1] if k else 0
    if k < n and common is not None and (stop is None or a.segs[k].id == b.segs[k].id) \
            and (lim.token_level or not lim.joined or a.segs[k].kind == "tools"):
        tokens += min(common(a.segs[k], b.segs[k]), a.cum[k] - tokens)
    return tokens


def _message_end(segs: Sequence[SegView], j: int) -> bool:
    """Whether a joined-message wire ends a block after position ``j``: a tool definition, a role or
    static/non-static change (``promptc.runtime.providers.moonshot.groups``), or the end of the prefix."""
    if j + 1 >= len(segs):
        return True
    x, y = segs[j], segs[j + 1]
    return (x.kind == "tools" or y.kind == "tools" or x.role != y.role
            or (x.stability == "static") != (y.stability == "static"))


def loss(old: Wire | None, new: Wire, lim: Limits, *, old_stop: int | None = None,
         common: Common | None = None) -> WireLoss:
    """The next request of ``new`` after ``old`` was warm (see the module docstring). ``common``
    (``WireCounter.common_tokens`` for the target) measures a changed segment's unchanged start."""
    new_w = written(new, lim)
    end = _floor_block(new.cum[new_w[-1]], lim) if new_w else 0
    if lim.mode == "automatic":  # an automatic cache: nothing reported written; reads what still matches
        end = lim.floor(new.total)
        if old is None:
            return WireLoss(0, 0, 0, end, ())
        was = lim.floor(old.total)
        read = min(lim.floor(common_prefix(old, new, lim, common, stop=old_stop)), was)
        gone = tuple(s.id for k, s in enumerate(old.segs) if old.cum[k] > read and (old.cum[k - 1] if k else 0) < was)
        return WireLoss(read, 0, was, end, (), gone)
    if old is None:
        return WireLoss(0, end, 0, end, ())
    old_w = written(old, lim)
    was = _floor_block(old.cum[old_w[-1]], lim) if old_w else 0
    valid = [] if key_lost(old, new, lim, old_stop) else \
        [k for k in old_w if still_prefix(old, new, k, lim, stop=old_stop)]
    read = _floor_block(old.cum[valid[-1]], lim) if valid else 0
    if old_stop is not None and old_stop >= len(old.segs):
        read = was
    if not new_w and lim.mode == "explicit":  # no breakpoint reaches the minimum: nothing is read either
        read = 0
    read = min(read, end) if end else min(read, new.total)
    lost = tuple(old.segs[k].id for k in old_w if k not in valid) if lim.mode == "explicit" else ()
    gone = tuple(s.id for k, s in enumerate(old.segs) if old.cum[k] > read and (old.cum[k - 1] if k else 0) < was)
    return WireLoss(read, max(0, end - read), was, end, lost, gone)


def position(w: Wire, seg_id: str | None) -> int | None:
    return next((k for k, s in enumerate(w.segs) if s.id == seg_id), None)
