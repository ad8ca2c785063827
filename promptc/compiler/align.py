"""Token alignment: boundary proofs, ``--align=fix``, token counts, and cache breakpoints per target.

A boundary between segments is **stable** for a tokenizer when tokenizing the concatenation equals
concatenating the per-segment tokenizations (DESIGN.md §3.4). Where the boundary is a message
boundary framed by special tokens (the engine's chat template, OpenAI-style chat messages) it is
stable by construction; where a provider concatenates same-role segments into one text (Anthropic
system blocks, Bedrock, Gemini parts) it must be proven:

* static | static: an exact check on a window of three pre-tokens on each side of the boundary
  (BPE never merges across pre-tokens, and the pre-tokenizer resynchronizes within that window);
* a dynamic side (session/turn template, history, memory entries): the template's literal text
  next to the boundary, completed with an adversarial set of continuations (letters, digits,
  spaces, newlines, punctuation, contractions, multi-byte characters); stable only if all are.

``--align=fix`` applies one documented normalization at a time, re-checking after each:
(1) move trailing spaces/tabs of the left segment to the start of the right one; (2) end the left
segment with a newline; (3) move the right segment's leading newlines to the end of the left one.
Every change is reported (W603); nothing is changed silently.
"""

from __future__ import annotations

import base64
import hashlib
import json
from array import array
import re
from dataclasses import dataclass, field
from pathlib import Path

from promptc.compiler import deps
from promptc.compiler.config import load_config
from promptc.core.errors import Diagnostic, Span
from promptc.core.hashing import chain, segment_hash
from promptc.core.providers import RAW_JOIN_PROVIDERS, Target, limits_for
from promptc.plan import Plan, PlanSegment
from promptc.tokenizers import get_tokenizer
from promptc.tokenizers.base import Tokenizer

#: Continuations that exercise every character class the BPE pre-tokenizers distinguish.
ADVERSARIAL = ("a", "A", "ab", "The", " a", "  a", " The", "1", "12", " 1", ".", " .", ",", "!", "?", "(", ")",
               "{", "}", "[", "\"", "'", "'s", "'t", "'re", "'ll", "-", "_", "#", "*", "<", "/", "\\", ":", "\n",
               "\n\n", "\na", " \n", "\t", " ", "  ", "é", "Ünïcode", "日本", "🎉", "\r\n")
WINDOW = 3
_TEMPLATE_START = re.compile(r"\{[{%#]")
_TEMPLATE_END = re.compile(r"[}%#]\}")


@dataclass
class Side:
    """One side of a boundary: fixed text, or literal text next to an unknown (dynamic) part."""

    text: str
    dynamic: bool


@dataclass
class Merge:
    left: str
    right: str
    merged: list[str]
    example: str


@dataclass
class TokenCache:
    """Token ids by (tokenizer digest, sha256 of the text) and boundary verdicts, kept on disk.

    The file stores each entry as ``[count, base64(uint32 ids)]``: a no-op build needs only the
    counts, so ids are decoded lazily (:meth:`ids_of`).
    """

    path: Path | None
    entries: dict[str, list] = field(default_factory=dict)
    boundaries: dict[str, bool] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def load(cls, path: Path | None) -> "TokenCache":
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("format") == 2:
                    return cls(path, data.get("entries", {}), data.get("boundaries", {}))
            except (ValueError, OSError):
                pass
        return cls(path)

    def count(self, key: str) -> int | None:
        e = self.entries.get(key)
        return e[0] if e is not None else None

    def ids_of(self, key: str) -> list[int] | None:
        e = self.entries.get(key)
        if e is None:
            return None
        return list(array("I", base64.b64decode(e[1]))) if e[1] else []

    def put(self, key: str, ids: list[int]) -> None:
        self.entries[key] = [len(ids), base64.b64encode(array("I", ids).tobytes()).decode("ascii")]
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"format": 2, "entries": self.entries, "boundaries": self.boundaries},
                                      separators=(",", ":")), encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            pass  # a read-only checkout only costs speed


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Aligner:
    """Tokenizes and proves boundaries for one tokenizer, with the incremental cache."""

    def __init__(self, tok: Tokenizer, cache: TokenCache):
        self.tok = tok
        self.cache = cache

    def count_many(self, texts: list[str]) -> dict[str, int]:
        """Token counts of each distinct text; unseen texts are encoded in one batch and cached."""
        out, todo = {}, []
        for t in dict.fromkeys(texts):
            n = self.cache.count(_key(t))
            if n is None:
                todo.append(t)
            else:
                out[t] = n
        if todo:
            for t, ids in zip(todo, self.tok.encode_batch(todo)):
                out[t] = len(ids)
                self.cache.put(_key(t), list(ids))
        return out

    def _starts_special(self, text: str) -> bool:
        return any(text.startswith(s) for s in self.tok.special_tokens)

    def _ends_special(self, text: str) -> bool:
        return any(text.endswith(s) for s in self.tok.special_tokens)

    def _tail(self, text: str) -> str:
        sub = text[-256:]
        spans = self.tok.pre_split(sub)
        return sub[spans[-WINDOW][0]:] if len(spans) > WINDOW + 1 else text

    def _head(self, text: str) -> str:
        sub = text[:256]
        spans = self.tok.pre_split(sub)
        return sub[:spans[WINDOW - 1][1]] if len(spans) > WINDOW + 1 else text

    def _same_pretokens(self, left: str, right: str) -> bool:
        n = len(left)
        return self.tok.pre_split(left + right) == self.tok.pre_split(left) + [(a + n, b + n) for a, b in
                                                                                  self.tok.pre_split(right)]

    def _pair(self, left: str, right: str, strict: bool = False) -> Merge | None:
        """Is ``left | right`` a stable boundary? ``strict`` (a side stands for unknown text) also
        requires the boundary to be a pre-tokenizer split, since BPE may merge anything within one
        pre-token depending on the exact characters."""
        if not left or not right or self._ends_special(left) or self._starts_special(right):
            return None
        left, right = self._tail(left), self._head(right)
        key = _key(f"{self.tok.digest}\x00{int(strict)}\x00{left}\x00{right}")
        verdict = self.cache.boundaries.get(key)
        if verdict is True:
            return None
        a, b, joint = self.tok.encode(left), self.tok.encode(right), self.tok.encode(left + right)
        if joint == a + b and (not strict or self._same_pretokens(left, right)):
            self.cache.boundaries[key] = True
            self.cache.dirty = True
            return None
        return self._explain(left, right, a, b, joint)

    def _explain(self, left: str, right: str, a: list[int], b: list[int], joint: list[int]) -> Merge:
        cut = len(left.encode("utf-8"))
        pos, merged, around = 0, [], []
        for t in joint:
            piece = self.tok.token_bytes(t)
            n = len(piece)
            text = piece.decode("utf-8", errors="replace")
            if pos < cut < pos + n:
                merged.append(text)  # this token straddles the boundary
            elif pos + n == cut or pos == cut:
                around.append(text)  # no straddling token: the pieces around the boundary re-segmented
            pos += n
        merged = merged or around
        if not merged:  # same tokens, but the boundary sits inside a pre-token: other text could merge
            merged = ["(one pre-token: " + _q(left[-6:] + right[:6]) + ")"]
        show = lambda ids: self.tok.token_bytes(ids).decode("utf-8", errors="replace") if ids is not None else ""  # noqa: E731
        return Merge(show(a[-1]) if a else "", show(b[0]) if b else "", merged[:2] or ["(resegmented)"], right)

    def check(self, left: Side, right: Side) -> Merge | None:
        """None when the boundary is stable for every allowed continuation, else the first merge."""
        lefts = [left.text] if not left.dynamic else ([left.text] if left.text else []) + [c + left.text for c in ADVERSARIAL]
        rights = [right.text] if not right.dynamic else [right.text + c for c in ADVERSARIAL]
        if left.dynamic and not left.text:
            lefts = list(ADVERSARIAL)
        strict = left.dynamic or right.dynamic
        for l_text in lefts:
            for r_text in rights:
                m = self._pair(l_text, r_text, strict)
                if m is not None:
                    return m
        return None


def literal_edges(seg: PlanSegment) -> tuple[Side, Side]:
    """(head, tail) of a segment as boundary sides: exact for static content, literal text of a
    template next to the boundary, or nothing known (history, runtime memory)."""
    if seg.content is not None and seg.hash is not None:
        return Side(seg.content, False), Side(seg.content, False)
    if seg.template is not None:
        t = seg.template
        m = _TEMPLATE_START.search(t)
        head = Side(t[: m.start()] if m else t, m is not None)
        ends = list(_TEMPLATE_END.finditer(t))
        tail = Side(t[ends[-1].end():] if ends else t, bool(ends))
        return head, tail
    return Side("", True), Side("", True)


def _set_text(seg: PlanSegment, text_of_side: str, new: str, which: str) -> PlanSegment:
    """Replace a segment's static content, or the literal start/end of its template."""
    if seg.content is not None and seg.hash is not None:
        return seg.model_copy(update={"content": new})
    if seg.template is not None:
        if which == "head":
            return seg.model_copy(update={"template": new + seg.template[len(text_of_side):]})
        return seg.model_copy(update={"template": seg.template[: len(seg.template) - len(text_of_side)] + new})
    return seg


def _rehash(plan: Plan) -> Plan:
    parent, segs = None, []
    for s in plan.segments:
        if s.content is not None and s.hash is not None:
            h = segment_hash(s.role, s.content)
            parent = chain(parent, h)
            s = s.model_copy(update={"hash": h, "prefix_hash": parent})
        segs.append(s)
    return plan.model_copy(update={"segments": segs})


def _span(seg: PlanSegment) -> Span:
    s = seg.source
    return Span(s.path, s.line, s.col, s.end_line, s.end_col)


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def raw_join_boundaries(plan: Plan, target: Target) -> list[int]:
    """Indices i whose boundary (i, i+1) is a raw text join for this target."""
    if target.provider == "raw":  # one concatenated text: every boundary is a join
        return list(range(len(plan.segments) - 1))
    if target.provider not in RAW_JOIN_PROVIDERS:
        return []
    return [i for i in range(len(plan.segments) - 1) if plan.segments[i].role == plan.segments[i + 1].role
            and plan.segments[i].kind != "history" and plan.segments[i + 1].kind != "history"]


def _fix(aligner: Aligner, left: PlanSegment, right: PlanSegment) -> tuple[PlanSegment, PlanSegment, list[str]]:
    """Apply the normalizations in order until the boundary is stable; returns what was done."""
    done: list[str] = []
    for step in ("move_space", "end_newline", "move_newlines"):
        _, l_tail = literal_edges(left)
        r_head, _ = literal_edges(right)
        if aligner.check(l_tail, r_head) is None:
            break
        if step == "move_space" and not l_tail.dynamic:
            ws = len(l_tail.text) - len(l_tail.text.rstrip(" \t"))
            if ws:
                moved = l_tail.text[-ws:]
                left = _set_text(left, l_tail.text, l_tail.text[:-ws], "tail")
                right = _set_text(right, r_head.text, moved + r_head.text, "head")
                done.append(f"moved {len(moved)} trailing space(s) of `{left.id}` to the start of `{right.id}`")
        elif step == "end_newline" and not l_tail.dynamic and not l_tail.text.endswith("\n"):
            left = _set_text(left, l_tail.text, l_tail.text + "\n", "tail")
            done.append(f"ended `{left.id}` with a newline")
        elif step == "move_newlines":
            nl = len(r_head.text) - len(r_head.text.lstrip("\r\n"))
            if nl and not l_tail.dynamic:
                moved = r_head.text[:nl]
                right = _set_text(right, r_head.text, r_head.text[nl:], "head")
                left = _set_text(left, l_tail.text, l_tail.text + moved, "tail")
                done.append(f"moved {len(moved)} leading newline(s) of `{right.id}` to the end of `{left.id}`")
    return left, right, done


def _decl(seg: PlanSegment) -> tuple:
    """A segment's identity across plans: where it is declared (ids depend on how a plan names it)."""
    return seg.module, seg.source.line, seg.source.col


def _prove(plans: dict[str, Plan], root: Path, mode: str, aligners: dict[str, Aligner]) -> tuple[dict[str, Plan], list[Diagnostic]]:
    diags: list[Diagnostic] = []
    fixed: dict[tuple, PlanSegment] = {}  # declaration → normalized segment
    for _ in range(4):  # fixes of shared segments propagate to every plan; a few rounds reach a fixpoint
        changed = False
        for name in sorted(plans):
            plan = plans[name]
            segs = [fixed[_decl(s)].model_copy(update={"id": s.id}) if _decl(s) in fixed else s for s in plan.segments]
            plan = plan.model_copy(update={"segments": segs})
            for target in plan.targets:
                aligner = aligners[target.tokenizer]
                for i in raw_join_boundaries(plan, target):
                    left, right = plan.segments[i], plan.segments[i + 1]
                    _, l_tail = literal_edges(left)
                    r_head, _ = literal_edges(right)
                    merge = aligner.check(l_tail, r_head)
                    if merge is None:
                        continue
                    if mode == "fix":
                        new_l, new_r, done = _fix(aligner, left, right)
                        if done:
                            fixed[_decl(left)] = new_l
                            fixed[_decl(right)] = new_r
                            segs = list(plan.segments)
                            segs[i], segs[i + 1] = new_l, new_r
                            plan = plan.model_copy(update={"segments": segs})
                            changed = True
                            for d in done:
                                diags.append(Diagnostic("W603", f"--align=fix: {d} (plan `{name}`, {target.name})",
                                                        _span(left), "review the change; it is part of the hash",
                                                        severity="warning"))
                            _, l_tail = literal_edges(new_l)
                            r_head, _ = literal_edges(new_r)
                            merge = aligner.check(l_tail, r_head)
                            if merge is None:
                                continue
                    dyn = " (for some run-time continuation)" if (l_tail.dynamic or r_head.dynamic) else ""
                    merged = " + ".join(_q(t) for t in merge.merged)
                    msg = (f"unstable token boundary between `{left.id}` and `{right.id}` in plan `{name}` for "
                           f"{target.name}{dyn}: {_q(merge.left)} | {_q(merge.right)} tokenize together as {merged}")
                    hint = (f"end `{left.id}` with a newline, or run `promptc build --align=fix`; a prefix cache "
                            "would otherwise miss at this boundary")
                    if target.tokenizer_exact:
                        diags.append(Diagnostic("E601", msg, _span(right), hint))
                    else:
                        diags.append(Diagnostic("W602", msg + f" (estimated with {target.tokenizer})", _span(right),
                                                hint, severity="warning"))
            plans[name] = plan
        if not changed:
            break
        diags = [d for d in diags if d.code == "W603"]
    return {n: _rehash(p) for n, p in plans.items()}, diags


def _pieces(plan: Plan, target: Target, aligner: Aligner) -> list[str]:
    """The texts whose tokens count for each static segment: chat-templated message pieces for
    engine targets (role header and end marker included), the content otherwise."""
    static = [s for s in plan.segments if s.content is not None and s.hash is not None]
    if target.provider == "engine":
        chat = chat_template_for(aligner.tok)
        return chat.split([{"role": s.role, "content": s.content} for s in static], add_generation_prompt=False).pieces
    return [s.content for s in static]


_CHAT_TEMPLATES: dict[str | None, object] = {}


def chat_template_for(tok: Tokenizer):
    """The (compiled once) chat template shipped with a model's tokenizer; ChatML when it has none."""
    from promptc.tokenizers.chat import ChatTemplate

    source = getattr(tok, "chat_template", None)
    if source not in _CHAT_TEMPLATES:
        _CHAT_TEMPLATES[source] = ChatTemplate(source)
    return _CHAT_TEMPLATES[source]


def _breakpoints(plan: Plan, target: Target, counts: list[int | None],
                 cache_limits: dict) -> tuple[set[int], list[Diagnostic]]:
    limits = limits_for(target.name, cache_limits)
    segs = plan.segments
    static_end = max((i for i, s in enumerate(segs) if s.stability == "static"), default=None)
    diags: list[Diagnostic] = []
    static_tokens = sum(c for c in counts if c is not None)
    if limits.mode == "tree":
        return set(), diags
    if static_end is not None and limits.min_tokens and static_tokens < limits.min_tokens:
        how = "breakpoint" if limits.mode == "explicit" else "automatic prefix cache"
        diags.append(Diagnostic(
            "W604", f"plan `{plan.name}`: the static prefix ({static_tokens} tokens"
            f"{'' if target.tokenizer_exact else ' (estimated with ' + target.tokenizer + ')'} through `{segs[static_end].id}`) is "
            f"below {target.name}'s minimum of {limits.min_tokens} cacheable tokens; the {how} will silently not engage",
            _span(segs[static_end]), f"grow the shared static prefix, or accept that {target.name} will not cache it "
            f"(limits from {limits.source}; override in pyproject.toml [tool.promptc.cache_limits])", severity="warning"))
    if limits.mode != "explicit" or limits.max_breakpoints == 0:
        return set(), diags
    candidates: list[int] = []
    if static_end is not None and static_tokens >= (limits.min_tokens or 0):
        candidates.append(static_end)
    last_global = max((i for i, s in enumerate(segs) if s.level == "global" and s.stability == "static"), default=None)
    cum, upto = 0, {}
    for i, c in enumerate(counts):
        if c is None:
            break
        cum += c
        upto[i] = cum
    if last_global is not None and last_global != static_end and upto.get(last_global, 0) >= (limits.min_tokens or 0):
        candidates.append(last_global)
    session_end = max((i for i, s in enumerate(segs) if s.stability == "session"), default=None)
    if session_end is not None:
        candidates.append(session_end)
    return set(sorted(set(candidates), key=candidates.index)[: limits.max_breakpoints]), diags


def align_plans(plans: dict[str, Plan], root: Path, mode: str = "check",
                cache_dir: Path | None = None) -> tuple[dict[str, Plan], list[Diagnostic]]:
    """Prove (or fix) boundaries, then annotate token counts and breakpoints on every plan."""
    cache_dir = cache_dir or (root / ".promptc" / "cache")
    aligners: dict[str, Aligner] = {}
    caches: list[TokenCache] = []
    for plan in plans.values():
        for t in plan.targets:
            if t.tokenizer not in aligners:
                tok = get_tokenizer(t.tokenizer)
                if getattr(tok, "source", None):
                    deps.record(Path(tok.source))  # the model/data file the tokenizer came from
                cache = TokenCache.load(cache_dir / f"tokens-{tok.digest.split(':')[1][:16]}.json")
                caches.append(cache)
                aligners[t.tokenizer] = Aligner(tok, cache)
    cache_limits = load_config(root).cache_limits
    plans, diags = _prove(dict(plans), root, mode, aligners)
    pieces = {(name, t.name): _pieces(plan, t, aligners[t.tokenizer]) for name, plan in plans.items() for t in plan.targets}
    ids: dict[str, dict[str, int]] = {}
    for tok_id, aligner in aligners.items():  # one batch per tokenizer: encode_batch uses every core
        texts = [p for (name, tname), ps in pieces.items() for p in ps
                 if next(t for t in plans[name].targets if t.name == tname).tokenizer == tok_id]
        ids[tok_id] = aligner.count_many(texts)
    out: dict[str, Plan] = {}
    for name in sorted(plans):
        plan = plans[name]
        tokens: list[dict[str, int]] = [{} for _ in plan.segments]
        prefix: list[dict[str, int]] = [{} for _ in plan.segments]
        bps: list[list[str]] = [[] for _ in plan.segments]
        for t in plan.targets:
            piece_counts = ids[t.tokenizer]
            counts: list[int | None] = [piece_counts[p] for p in pieces[(name, t.name)]]
            counts += [None] * (len(plan.segments) - len(counts))
            cum = 0
            for i, c in enumerate(counts):
                if c is None:
                    break
                cum += c
                tokens[i][t.name] = c
                prefix[i][t.name] = cum
            chosen, bdiags = _breakpoints(plan, t, counts, cache_limits)
            diags.extend(bdiags)
            for i in chosen:
                bps[i].append(t.name)
        segs = [s.model_copy(update={"tokens": tokens[i] or None, "prefix_tokens": prefix[i] or None,
                                     "breakpoint": bps[i] or None}) for i, s in enumerate(plan.segments)]
        totals = {t.name: prefix[max((i for i, s in enumerate(plan.segments) if s.hash), default=0)].get(t.name, 0)
                  for t in plan.targets}
        out[name] = plan.model_copy(update={"segments": segs, "static_tokens": totals})
    for c in caches:
        c.save()
    return out, diags
