"""Token-aligned boundaries: prove each segment boundary stable per target, or fix it (``--align=fix``).

A boundary between segments is **stable** for a tokenizer when tokenizing the concatenation equals
concatenating the per-segment tokenizations (docs/architecture.md, invariant 4). Where the boundary
is a message boundary framed by special tokens (the engine's chat template, OpenAI-style chat
messages) it is stable by construction; where a provider concatenates same-role segments into one
text (Anthropic system blocks, Bedrock, Gemini parts) it must be proven:

* static | static: an exact check on a window of three pre-tokens on each side of the boundary
  (BPE never merges across pre-tokens, and the pre-tokenizer resynchronizes within that window);
* a dynamic side (session/turn template, history, memory entries): the template's literal text
  next to the boundary, completed with an adversarial set of continuations (letters, digits,
  spaces, newlines, punctuation, contractions, multi-byte characters); stable only if all are.

``--align=fix`` applies one documented normalization at a time, re-checking after each:
(1) move trailing spaces/tabs of the left segment to the start of the right one; (2) end the left
segment with a newline — only where the boundary already touches whitespace, so a fix never splits
a word in two; (3) move the right segment's leading newlines to the end of the left one. Only text
segments are changed (tools and memory content is canonical). Every change is reported (W603);
nothing is changed silently, and a boundary no step can fix stays an error that says so.

This stage runs on rendered, not yet hashed plans: hashing comes after it (see
:mod:`promptc.compiler.hashes`), so a fixed segment is hashed exactly once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from promptc.compiler.token_cache import TokenCache, text_key
from promptc.core.errors import Diagnostic, Span
from promptc.core.providers import RAW_JOIN_PROVIDERS, Target
from promptc.plan import Plan, PlanSegment
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
    """Why a boundary is unstable: the last token of the left side, the first of the right, and the
    token(s) the joined text produced across the boundary instead."""

    left: str
    right: str
    merged: list[str]


class Aligner:
    """Proves boundaries for one tokenizer; proven-stable verdicts are kept in the token cache."""

    def __init__(self, tok: Tokenizer, cache: TokenCache):
        self.tok = tok
        self.cache = cache

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
        key = text_key(f"{self.tok.digest}\x00{int(strict)}\x00{left}\x00{right}")
        if self.cache.stable(key):
            return None
        a, b, joint = self.tok.encode(left), self.tok.encode(right), self.tok.encode(left + right)
        if joint == a + b and (not strict or self._same_pretokens(left, right)):
            self.cache.mark_stable(key)
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
        return Merge(show(a[-1]) if a else "", show(b[0]) if b else "", merged[:2] or ["(resegmented)"])

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
    if seg.is_static:
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
    """Replace a text segment's static content, or the literal start/end of its template."""
    if seg.is_static:
        return seg.model_copy(update={"content": new})
    if which == "head":
        return seg.model_copy(update={"template": new + seg.template[len(text_of_side):]})
    return seg.model_copy(update={"template": seg.template[: len(seg.template) - len(text_of_side)] + new})


def _editable(seg: PlanSegment) -> bool:
    """Only text segments are normalized: tools and memory content is canonical (and entry-hashed)."""
    return seg.kind == "text" and (seg.is_static or seg.template is not None)


def _span(seg: PlanSegment) -> Span:
    s = seg.source
    return Span(s.path, s.line, s.col, s.end_line, s.end_col)


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def raw_join_boundaries(plan: Plan, target: Target) -> list[tuple[int, int]]:
    """Pairs (i, j) of segments whose texts this target joins raw, ``i`` directly before ``j``.

    A completion-style ``raw/`` target sees every segment concatenated. A provider that packs
    same-role segments into one text (:data:`RAW_JOIN_PROVIDERS`) joins consecutive same-role text
    segments; tools segments travel apart as tool definitions, so the texts on either side of one
    meet each other, and a history is sent as its own messages."""
    segs = plan.segments
    if target.provider == "raw":  # one concatenated text: every boundary is a join
        return [(i, i + 1) for i in range(len(segs) - 1)]
    if target.provider not in RAW_JOIN_PROVIDERS:
        return []
    texts = [i for i, s in enumerate(segs) if s.kind != "tools"]
    return [(i, j) for i, j in zip(texts, texts[1:]) if segs[i].role == segs[j].role
            and segs[i].kind != "history" and segs[j].kind != "history"]


def at_whitespace(left: Side, right: Side) -> bool:
    """True when the boundary touches known whitespace on one side: text inserted there separates
    nothing that was one word."""
    return left.text[-1:].isspace() or right.text[:1].isspace()


def fix_boundary(aligner: Aligner, left: PlanSegment,
                 right: PlanSegment) -> tuple[PlanSegment, PlanSegment, list[str]]:
    """Apply the normalizations in order until the boundary is stable; returns what was done."""
    done: list[str] = []
    if not (_editable(left) and _editable(right)):
        return left, right, done
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
        elif (step == "end_newline" and not l_tail.dynamic and not l_tail.text.endswith("\n")
              and at_whitespace(l_tail, r_head) and not r_head.text.startswith(("\n", "\r"))):
            # a right side that starts with a newline gets it moved instead (step 3): adding one
            # here and moving that one too would insert a blank line
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


def prove_boundaries(plans: dict[str, Plan], aligners: dict[str, Aligner],
                     mode: str = "check") -> tuple[dict[str, Plan], list[Diagnostic]]:
    """Check every raw-join boundary of every plan for each target's tokenizer (``aligners`` by
    tokenizer id); with ``mode="fix"`` normalize unstable ones. Returns the (possibly fixed) plans,
    still unhashed, and the findings: E601/W602 for unstable boundaries, W603 for each fix."""
    diags: list[Diagnostic] = []
    plans = dict(plans)
    fixed: dict[tuple, PlanSegment] = {}  # declaration → normalized segment
    for _ in range(4):  # fixes of shared segments propagate to every plan; a few rounds reach a fixpoint
        changed = False
        for name in sorted(plans):
            plan = plans[name]
            segs = [fixed[_decl(s)].model_copy(update={"id": s.id}) if _decl(s) in fixed else s for s in plan.segments]
            plan = plan.model_copy(update={"segments": segs})
            for target in plan.targets:
                aligner = aligners[target.tokenizer]
                for i, j in raw_join_boundaries(plan, target):
                    left, right = plan.segments[i], plan.segments[j]
                    _, l_tail = literal_edges(left)
                    r_head, _ = literal_edges(right)
                    merge = aligner.check(l_tail, r_head)
                    if merge is None:
                        continue
                    if mode == "fix":
                        new_l, new_r, done = fix_boundary(aligner, left, right)
                        if done:
                            fixed[_decl(left)] = new_l
                            fixed[_decl(right)] = new_r
                            segs = list(plan.segments)
                            segs[i], segs[j] = new_l, new_r
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
                    diags.append(_unstable(name, target, left, right, l_tail, r_head, merge, mode))
            plans[name] = plan
        if not changed:
            break
        diags = [d for d in diags if d.code == "W603"]
    return plans, diags


def _unstable(name: str, target: Target, left: PlanSegment, right: PlanSegment, l_tail: Side, r_head: Side,
              merge: Merge, mode: str) -> Diagnostic:
    dyn = " (for some run-time continuation)" if (l_tail.dynamic or r_head.dynamic) else ""
    merged = " + ".join(_q(t) for t in merge.merged)
    msg = (f"unstable token boundary between `{left.id}` and `{right.id}` in plan `{name}` for "
           f"{target.name}{dyn}: {_q(merge.left)} | {_q(merge.right)} tokenize together as {merged}")
    if mode == "fix":
        hint = (f"--align=fix cannot make it stable without splitting a word (it inserts text only at whitespace, "
                f"and only in text segments): put a space or a newline at the end of `{left.id}` or the start of "
                f"`{right.id}`; a prefix cache would otherwise miss at this boundary")
    else:
        hint = (f"end `{left.id}` with a newline, or run `promptc build --align=fix`; a prefix cache "
                "would otherwise miss at this boundary")
    if target.tokenizer_exact:
        return Diagnostic("E601", msg, _span(right), hint)
    return Diagnostic("W602", msg + f" (estimated with {target.tokenizer})", _span(right), hint, severity="warning")
