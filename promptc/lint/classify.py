"""Change classification: what changed between the baseline and the new plans, in cache terms.

Each :class:`Change` is one cause in one plan, with the position in the new plan from which the
cached prefix is lost (``break_at``; None when nothing cached is lost). :mod:`promptc.lint.run`
groups the same cause across plans into one finding.

The rules are units (as the compiler's codes are): one :class:`Rule` per kind of change, listed in
:data:`RULES`, each owning the lint codes it emits (see :mod:`promptc.core.codes.lint`); no code is
emitted outside its rule (``tests/lint/test_rules.py`` holds this):

* ``targets``: a target's model or tokenizer changed E911; targets added or removed I912;
* ``renamed``: segments are matched by content first, a cached segment renamed with the same bytes is I918;
  plans are matched the same way (:func:`match_plans`, which :func:`promptc.lint.run.compare` applies
  before the rules run): a renamed plan is compared with its baseline under its new name, never
  reported as I915 + I916 (it is I924);
* ``moved`` / ``added`` / ``removed``: a segment moved E907, added E908 or removed E909 in the cached prefix;
* ``stability``: a cached segment's stability changed E910;
* ``append_only``: an append-only segment grown at its end I906 — E904 when a target's wire sends it
  before other cached content, which is then re-written (its ``regrade``, decided from the impact) —
  otherwise E905 naming the entry and whether it was inserted, removed, reordered or rewritten;
* ``content``: a cached segment's bytes changed E901 (a role-only change is E901 saying so, never a
  whitespace finding, on the targets whose wire carries the role: none where both roles are the same
  bytes on the wire, :func:`promptc.core.wire.wire_role`), only whitespace E902 / only trailing
  whitespace E903, or E914 when the declaration is unchanged and an included file changed (line
  endings are normalized to LF by the compiler, so a line-ending-only change changes no byte: no
  finding);
* ``outside_prefix``: anything outside the cached prefix (session/turn templates, turn segments,
  moves/additions/removals/stability changes after it) I913 — also, through its ``regrade``, an
  error whose break loses nothing cached on any target;
* ``plan_added`` I915 / ``plan_removed`` I916 / ``plan_renamed`` I924 (a plan :func:`match_plans` paired
  under a new name, naming the old and the new; its changes are reported by the other rules at the new path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from promptc.core.codes import lookup
from promptc.core.wire import wire_role
from promptc.lint import locate
from promptc.lint.model import Location
from promptc.lint.snapshot import PlanView, SegView, Snapshot


@dataclass
class Change:
    """One cause of a change in one plan."""

    code: str
    plan: str
    message: str
    segment: str | None = None
    location: Location | None = None
    break_at: int | None = None  #: index in the new plan from which the cached prefix is lost
    old_break: int | None = None  #: the same position in the baseline plan (for lost breakpoints)
    keep: dict[str, int] = field(default_factory=dict)  #: tokens at break_at still cached (per target)
    targets: tuple[str, ...] | None = None  #: None: the targets both sides share
    group: tuple = ()  #: the same cause in several plans shares this key
    notes: tuple[str, ...] = ()
    hint: str | None = None
    suppress_at: SegView | PlanView | None = None  #: where a suppression comment may sit (new side)


@dataclass
class PlanPair:
    """Two versions of one plan, with what every rule needs computed once."""

    old: PlanView
    new: PlanView
    old_snap: Snapshot | None
    new_snap: Snapshot
    carried: tuple[str, ...]  #: targets whose caches carry over (same name and tokenizer)
    plan_loc: Location | None
    renamed: dict[str, str]  #: old id -> new id (same bytes)
    old_ids: list[str]  #: baseline order, renamed segments under their new id
    new_ids: list[str]
    o_by: dict[str, SegView]
    n_by: dict[str, SegView]
    o_end: int
    n_end: int


@dataclass(frozen=True)
class Rule:
    """One lint rule: the codes it owns, and its hooks (each optional).

    ``plan(pair)``: the changes within one plan; ``project(old, new, old_snap, new_snap)``: changes of
    the set of plans; ``regrade(code, targets, segment)``: a new code and notes from what each target's
    wire loses (None: not this rule's case)."""

    name: str
    codes: tuple[str, ...]
    plan: Callable[[PlanPair], list[Change]] | None = None
    project: Callable[..., list[Change]] | None = None
    regrade: Callable[[str, list, str | None], tuple[str, list[str]] | None] | None = None


# --- helpers (they emit no code) ---------------------------------------------------------------------

def _ws_class(old: str, new: str) -> str | None:
    """``trailing`` when only trailing whitespace changed, ``whitespace`` when only whitespace did."""
    if [x.rstrip() for x in old.split("\n")] == [x.rstrip() for x in new.split("\n")]:
        return "trailing"
    if "".join(old.split()) == "".join(new.split()):
        return "whitespace"
    return None


def _is_subsequence(short: tuple, long: tuple) -> bool:
    it = iter(long)
    return all(x in it for x in short)


def _first_diff(a: tuple, b: tuple) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _label(seg: SegView, i: int) -> str:
    if seg.labels and i < len(seg.labels):
        what = "tool" if seg.kind == "tools" else "entry"
        return f"{what} `{seg.labels[i]}`"
    return f"entry {i}"


def _moved(old_ids: list[str], new_ids: list[str]) -> set[str]:
    """Common ids outside a longest common subsequence of the two orders."""
    common = set(old_ids) & set(new_ids)
    a = [x for x in old_ids if x in common]
    b = [x for x in new_ids if x in common]
    dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            dp[i][j] = dp[i + 1][j + 1] + 1 if a[i] == b[j] else max(dp[i + 1][j], dp[i][j + 1])
    keep, i, j = set(), 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            keep.add(a[i])
            i, j = i + 1, j + 1
        elif dp[i + 1][j] >= dp[i][j + 1]:
            i += 1
        else:
            j += 1
    return common - keep


def _carried(old: PlanView, new: PlanView) -> tuple[str, ...]:
    o = {t.name: t for t in old.targets}
    return tuple(t.name for t in new.targets if t.name in o and o[t.name].tokenizer == t.tokenizer)


def _renamed(old: PlanView, new: PlanView) -> dict[str, str]:
    # identity by content first (the provider caches bytes, not names): a cached segment that is gone
    # under its old name and present, byte for byte, under a new one was renamed, not removed + added
    n_ids = {s.id for s in new.segments}
    o_ids = {s.id for s in old.segments}
    gone = [s for s in old.segments if s.id not in n_ids and s.hash]
    renamed: dict[str, str] = {}
    for s in new.segments:
        if s.hash and s.id not in o_ids:
            m = next((g for g in gone if g.hash == s.hash and g.id not in renamed), None)
            if m is not None:
                renamed[m.id] = s.id
    return renamed


def pair(old: PlanView, new: PlanView, old_snap: Snapshot | None, new_snap: Snapshot) -> PlanPair:
    renamed = _renamed(old, new)
    return PlanPair(
        old, new, old_snap, new_snap, _carried(old, new),
        locate.at(new_snap, new.span.path, new.span.line, new.span.col) if new.span else None,
        renamed, [renamed.get(s.id, s.id) for s in old.segments], [s.id for s in new.segments],
        {renamed.get(s.id, s.id): s for s in old.segments}, {s.id: s for s in new.segments},
        old.static_end(), new.static_end())


def _plan_change(p: PlanPair, code: str, msg: str, break_at: int | None, old_break: int | None, seg_id: str | None,
                 hint: str | None = None) -> Change:
    """A change of the plan's segment list, located at the plan line."""
    return Change(code, p.new.name, msg, seg_id, p.plan_loc, break_at, old_break, hint=hint, suppress_at=p.new,
                  targets=p.carried, group=(code, p.new.name, msg))


def _segment_change(p: PlanPair, s: SegView, c: Change | None) -> list[Change]:
    """A change of one segment's own declaration, suppressible above it."""
    if c is None:
        return []
    c.targets = p.carried if c.targets is None else c.targets
    c.suppress_at = s
    c.group = (c.code, s.module, s.id, c.message)
    return [c]


def _common(p: PlanPair) -> Iterator[tuple[int, SegView, SegView]]:
    """(index in the new plan, baseline segment, new segment) for segments on both sides."""
    for i, s in enumerate(p.new.segments):
        o = p.o_by.get(s.id)
        if o is not None:
            yield i, o, s


def _move(p: PlanPair) -> tuple[set[str], int, bool]:
    moved = _moved(p.old_ids, p.new_ids)
    if not moved:
        return moved, 0, False
    first = next(i for i, (a, b) in enumerate(zip(p.old_ids, p.new_ids)) if a != b)
    return moved, first, first < max(p.o_end, p.n_end)


def _move_message(p: PlanPair, moved: set[str]) -> tuple[str, str]:
    order = sorted(moved, key=p.new_ids.index)
    names = ", ".join(f"`{m}`" for m in order)
    return (f"plan `{p.new.name}`: {names} moved ([{', '.join(p.old_ids)}] → [{', '.join(p.new_ids)}])",
            order[0])


def _added_cached(p: PlanPair, i: int, sid: str) -> bool:
    return p.n_by[sid].cached and i < p.n_end


def _removed_cached(p: PlanPair, j: int, sid: str) -> bool:
    return p.o_by[sid].cached and j < p.o_end


def _removal(p: PlanPair, code: str, j: int, sid: str, cached: bool) -> Change:
    c = _plan_change(p, code, f"plan `{p.new.name}`: segment `{sid}` was removed" + (" from the cached prefix" if cached else ""),
                     min(j, p.n_end) if cached else None, j if cached else None, sid)
    loc = locate.declaration(p.old_snap, p.o_by[sid], "baseline") if p.old_snap is not None else None
    if loc is not None:
        c.location = loc
    return c


def _stability_cached(o: SegView, s: SegView) -> bool:
    return o.cached or s.cached


def _stability_message(o: SegView, s: SegView, cached: bool) -> str:
    return f"segment `{s.id}`: stability {o.stability} → {s.stability}" + ("" if cached else " (outside the cached prefix)")


def _seg_location(p: PlanPair, o: SegView, s: SegView) -> Location | None:
    return locate.first_change(p.old_snap, o, p.new_snap, s) or locate.declaration(p.new_snap, s)


def _bytes_changed(o: SegView, s: SegView) -> bool:
    return o.stability == s.stability and o.cached and s.cached and o.hash != s.hash


# --- the rules -----------------------------------------------------------------------------------------

def _targets(p: PlanPair) -> list[Change]:
    old, new = p.old, p.new
    o = {t.name: t for t in old.targets}
    n = {t.name: t for t in new.targets}
    fresh = [name for name in n if name not in p.carried]
    gone = [name for name in o if name not in n]
    retok = [name for name in n if name in o and o[name].tokenizer != n[name].tokenizer]
    out: list[Change] = []
    if fresh and (gone or retok):
        parts = [f"`{g}` → `{f}`" for g, f in zip(gone, [x for x in fresh if x not in retok])]
        parts += [f"`{r}` tokenizer {o[r].tokenizer} → {n[r].tokenizer}" for r in retok]
        out.append(Change("E911", new.name, f"plan `{new.name}`: target changed ({', '.join(parts)}): every cached "
                                            "prefix of the old target is invalidated", None, None, 0, 0,
                          targets=tuple(fresh), group=("E911", new.name),
                          hint="a model or tokenizer change always re-writes the whole static prefix"))
    elif fresh or gone:
        what = ", ".join([f"added `{f}`" for f in fresh] + [f"removed `{g}`" for g in gone])
        out.append(Change("I912", new.name, f"plan `{new.name}`: targets changed ({what}); the other targets keep "
                                            "their caches", None, None, group=("I912", new.name)))
    for c in out:
        c.location, c.suppress_at = _target_location(p.new_snap, new, c) or p.plan_loc, new
    return out


def _target_location(snap: Snapshot, plan: PlanView, change: Change) -> Location | None:
    """Where a target change was made: the plan line when it names its targets, else the line of
    ``pyproject.toml`` that names the new target (the project's default targets)."""
    names = [t.name for t in plan.targets]
    decl = snap.text(plan.span.path) if plan.span is not None else None
    line = decl.split("\n")[plan.span.line - 1] if decl is not None and 0 < plan.span.line <= decl.count("\n") + 1 else ""
    if any(f'"{n}"' in line for n in names) or "target" in line:
        return None
    text = snap.text("pyproject.toml")
    if text is None:
        return None
    for k, row in enumerate(text.split("\n")):
        for n in change.targets or names:
            if f'"{n}"' in row:
                return locate.at(snap, "pyproject.toml", k + 1, row.index(f'"{n}"') + 1, row.index(f'"{n}"') + len(n) + 3)
    return None


def _renames(p: PlanPair) -> list[Change]:
    out = []
    for old_id, new_id in p.renamed.items():
        seg = p.n_by[new_id]
        out.append(Change("I918", p.new.name, f"segment `{old_id}` was renamed `{new_id}`: same bytes, every cached "
                                              "prefix stays valid", new_id,
                          locate.declaration(p.new_snap, seg) or p.plan_loc, suppress_at=seg,
                          group=("I918", old_id, new_id)))
    return out


def _moves(p: PlanPair) -> list[Change]:
    moved, first, cached = _move(p)
    if not moved or not cached:
        return []
    msg, seg = _move_message(p, moved)
    return [_plan_change(p, "E907", msg, first, first, seg, hint="keep the order of cached segments")]


def _additions(p: PlanPair) -> list[Change]:
    out = []
    for i, sid in enumerate(p.new_ids):
        if sid not in p.o_by and _added_cached(p, i, sid):
            out.append(Change("E908", p.new.name, f"plan `{p.new.name}`: segment `{sid}` was added inside the cached prefix",
                              sid, locate.declaration(p.new_snap, p.n_by[sid]) or p.plan_loc, i, min(i, p.o_end),
                              targets=p.carried, suppress_at=p.n_by[sid], group=("E908", p.new.name, sid),
                              hint="add static segments at the end of the static prefix"))
    return out


def _removals(p: PlanPair) -> list[Change]:
    return [_removal(p, "E909", j, sid, True) for j, sid in enumerate(p.old_ids)
            if sid not in p.n_by and _removed_cached(p, j, sid)]


def _stabilities(p: PlanPair) -> list[Change]:
    out = []
    for i, o, s in _common(p):
        if o.stability != s.stability and _stability_cached(o, s):
            out += _segment_change(p, s, Change("E910", p.new.name, _stability_message(o, s, True), s.id,
                                                _seg_location(p, o, s), min(i, p.n_end),
                                                min(p.old_ids.index(s.id), p.o_end)))
    return out


def _append_only(p: PlanPair) -> list[Change]:
    out = []
    for i, old, new in _common(p):
        if not (_bytes_changed(old, new) and old.entries is not None and new.entries is not None):
            continue
        o, n = old.entries or (), new.entries or ()
        c: Change | None
        if n[: len(o)] == o:
            if len(n) == len(o):
                continue
            added = len(n) - len(o)
            keep = {t: old.tokens.get(t, 0) for t in old.tokens}
            c = Change("I906", p.new.name, f"append-only segment `{new.id}` grew by {added} entr{'y' if added == 1 else 'ies'}"
                                           f" at its end ({_label(new, len(o))}{' …' if added > 1 else ''})",
                       new.id, locate.entry_location(p.new_snap, new, len(o), "new"), i, None, keep)
        else:
            k = _first_diff(o, n)
            if sorted(o) == sorted(n):
                how, loc = f"reordered ({_label(new, k)} is now at position {k + 1})", \
                    locate.entry_location(p.new_snap, new, k, "new")
            elif _is_subsequence(o, n):
                how, loc = f"{_label(new, k)} was inserted before the end", locate.entry_location(p.new_snap, new, k, "new")
            elif _is_subsequence(n, o):
                how = f"{_label(old, k) if old.labels else 'entry ' + str(k)} was removed"
                loc = locate.entry_location(p.old_snap, old, k, "baseline") if old.labels else \
                    locate.declaration(p.new_snap, new)
            else:
                same_name = old.labels and new.labels and k < len(old.labels) and k < len(new.labels) \
                    and old.labels[k] == new.labels[k]
                how = f"{_label(new, k)} was rewritten" if same_name or not old.labels else \
                    f"{_label(old, k)} was replaced by {_label(new, k)}"
                loc = locate.entry_location(p.new_snap, new, k, "new")
            c = Change("E905", p.new.name, f"append-only segment `{new.id}` changed before its end: {how}", new.id, loc,
                       i, hint="only append new entries at the end; the cached prefix from this segment on is lost")
        c.old_break = p.old_ids.index(new.id)
        out += _segment_change(p, new, c)
    return out


def _append_regrade(code: str, targets: list, segment: str | None) -> tuple[str, list[str]] | None:
    if code == "I906" and any(set(t.lost_segments) - {segment} for t in targets):
        where = sorted({t.target for t in targets if set(t.lost_segments) - {segment}})
        return "E904", [f"on {', '.join(where)} the wire sends the new entries before other cached content, which is "
                        "re-written"]
    return None


def _content(p: PlanPair) -> list[Change]:
    out = []
    for i, o, s in _common(p):
        if _bytes_changed(o, s) and (o.entries is None or s.entries is None):
            c = _content_change(p, o, s, i)
            if c is None:
                continue
            c.old_break = p.old_ids.index(s.id)
            out += _segment_change(p, s, c)
    return out


def _role_differs(target: str, p: PlanPair, old: SegView, new: SegView, i_new: int) -> bool:
    """Whether ``target``'s wire carries a role change of ``new`` (promptc.core.wire.wire_role: Anthropic,
    Bedrock and Gemini send system and developer text in one system region, OpenAI sends each role)."""
    j = next(k for k, x in enumerate(p.old.segments) if x is old)
    try:
        return wire_role(target, p.old.segments, j) != wire_role(target, p.new.segments, i_new)
    except ValueError:  # a provider without a spec: its wire is unknown, the change counts
        return True


def _content_change(p: PlanPair, old: SegView, new: SegView, i_new: int) -> Change | None:
    old_snap, new_snap, plan = p.old_snap, p.new_snap, p.new
    notes: list[str] = []
    if old.content is not None and old.content == new.content and old.role and new.role and old.role != new.role:
        # per target, what its wire does: no finding where both roles are the same bytes on the wire
        targets = tuple(t for t in p.carried if _role_differs(t, p, old, new, i_new))
        if not targets:
            return None
        same = [t for t in p.carried if t not in targets]
        loc = locate.first_change(old_snap, old, new_snap, new) or locate.declaration(new_snap, new)
        return Change("E901", plan.name, f"static segment `{new.id}` changed: its role changed ({old.role} → "
                                         f"{new.role}), the text is the same", new.id, loc, i_new, targets=targets,
                      notes=(f"the wire of {', '.join(same)} sends both roles as the same bytes (its system "
                             "region): no cached prefix is lost there",) if same else (),
                      hint=f"restore `role {old.role}`; if the new role is intended, acknowledge the cache reset "
                           "(`# promptc: allow E901 — reason`)")
    ws = _ws_class(old.content, new.content) if old.content is not None and new.content is not None \
        and old.content != new.content else None
    what = {"trailing": "only trailing whitespace changed", "whitespace": "only whitespace changed"}.get(ws or "")
    decl_same = locate.first_change(old_snap, old, new_snap, new) is None and old_snap is not None \
        and old_snap.root is not None
    if decl_same:
        inc = locate.changed_include(old_snap, new_snap, new)
        if inc is not None:
            loc, rel = inc
            where = locate.file_first_change(old_snap, new_snap, rel)
            if where is not None:
                notes.append(f"{rel} changed at line {where.line}")
            if what:
                notes.append(what)
            return Change("E914", plan.name, f"static segment `{new.id}` changed through its include `{rel}`",
                          new.id, loc, i_new, notes=tuple(notes),
                          hint="included files are part of the static bytes; if the reset is intended, say so "
                               "with `# promptc: allow E914 — reason` above the segment")
        notes.append("the declaration is unchanged: an input default or an imported value changed")
    loc = locate.first_change(old_snap, old, new_snap, new) or locate.declaration(new_snap, new)
    if ws:
        return Change("E903" if ws == "trailing" else "E902", plan.name,
                      f"static segment `{new.id}` changed: {what} (still a cache break)", new.id,
                      loc, i_new, notes=tuple(notes), hint="revert the whitespace change")
    return Change("E901", plan.name, f"static segment `{new.id}` changed", new.id, loc, i_new, notes=tuple(notes),
                  hint=f"if the cache reset is intended, acknowledge these bytes: `# promptc: allow E901 "
                       f"@{(new.hash or '').removeprefix('sha256:')[:12]} — reason` above the segment, or bump "
                       "`cache_epoch` in [tool.promptc]")


def _outside_prefix(p: PlanPair) -> list[Change]:
    out = []
    moved, _first, cached = _move(p)
    if moved and not cached:
        msg, seg = _move_message(p, moved)
        out.append(_plan_change(p, "I913", msg, None, None, seg))
    for i, sid in enumerate(p.new_ids):
        if sid not in p.o_by and not _added_cached(p, i, sid):
            out.append(Change("I913", p.new.name, f"plan `{p.new.name}`: segment `{sid}` was added after the cached prefix",
                              sid, locate.declaration(p.new_snap, p.n_by[sid]) or p.plan_loc, targets=p.carried,
                              suppress_at=p.n_by[sid], group=("I913", p.new.name, sid)))
    out += [_removal(p, "I913", j, sid, False) for j, sid in enumerate(p.old_ids)
            if sid not in p.n_by and not _removed_cached(p, j, sid)]
    for _i, o, s in _common(p):
        c = None
        if o.stability != s.stability and not _stability_cached(o, s):
            c = Change("I913", p.new.name, _stability_message(o, s, False), s.id, _seg_location(p, o, s))
        elif o.stability == s.stability and not o.cached and not s.cached and (
                (o.template is not None and o.template != s.template) or (o.kind is not None and o.kind != s.kind)):
            c = Change("I913", p.new.name, f"{s.stability} segment `{s.id}` changed: no cached prefix is affected",
                       s.id, _seg_location(p, o, s))
        out += _segment_change(p, s, c)
    return out


def _nothing_lost(code: str, targets: list, segment: str | None) -> tuple[str, list[str]] | None:
    entry = lookup(code)
    if entry is not None and entry.severity == "error" and targets and not any(t.lost for t in targets):
        return "I913", ["nothing cached is lost on any target"]
    return None


def _plans_added(old: dict[str, PlanView], new: dict[str, PlanView], old_snap: Snapshot | None,
                 new_snap: Snapshot) -> list[Change]:
    out = []
    for name in sorted(set(new) - set(old)):
        p = new[name]
        loc = locate.at(new_snap, p.span.path, p.span.line, p.span.col) if p.span else None
        out.append(Change("I915", name, f"plan `{name}` was added", None, loc, group=("I915", name), suppress_at=p))
    return out


def _plans_renamed(old: dict[str, PlanView], new: dict[str, PlanView], old_snap: Snapshot | None,
                   new_snap: Snapshot) -> list[Change]:
    # the baseline plans :func:`match_plans` paired with a new name carry their old one (lint.run.compare)
    out = []
    for name in sorted(n for n in old if old[n].renamed_from is not None and n in new):
        p, was = new[name], old[name].renamed_from
        loc = locate.at(new_snap, p.span.path, p.span.line, p.span.col) if p.span else None
        out.append(Change("I924", name, f"plan `{was}` was renamed `{name}` (matched by its segments): its changes "
                                        "are compared with its baseline", None, loc, group=("I924", name),
                          suppress_at=p, hint="nothing to do: a provider caches bytes, not plan names"))
    return out


def _plans_removed(old: dict[str, PlanView], new: dict[str, PlanView], old_snap: Snapshot | None,
                   new_snap: Snapshot) -> list[Change]:
    out = []
    for name in sorted(set(old) - set(new)):
        p = old[name]
        loc = None
        if p.span is not None and old_snap is not None and old_snap.root is not None:
            loc = locate.at(old_snap, p.span.path, p.span.line, p.span.col, side="baseline")
        out.append(Change("I916", name, f"plan `{name}` was removed", None, loc, group=("I916", name)))
    return out


#: every lint rule, in the order its changes are reported; each lint code belongs to exactly one rule
RULES: tuple[Rule, ...] = (
    Rule("targets", ("E911", "I912"), plan=_targets),
    Rule("renamed", ("I918",), plan=_renames),
    Rule("moved", ("E907",), plan=_moves),
    Rule("added", ("E908",), plan=_additions),
    Rule("removed", ("E909",), plan=_removals),
    Rule("stability", ("E910",), plan=_stabilities),
    Rule("append_only", ("I906", "E904", "E905"), plan=_append_only, regrade=_append_regrade),
    Rule("content", ("E901", "E902", "E903", "E914"), plan=_content),
    Rule("outside_prefix", ("I913",), plan=_outside_prefix, regrade=_nothing_lost),
    Rule("plan_added", ("I915",), project=_plans_added),
    Rule("plan_removed", ("I916",), project=_plans_removed),
    Rule("plan_renamed", ("I924",), project=_plans_renamed),
)


def classify_plan(old: PlanView, new: PlanView, old_snap: Snapshot | None, new_snap: Snapshot) -> list[Change]:
    """Every change between two versions of one plan."""
    p = pair(old, new, old_snap, new_snap)
    return [c for rule in RULES if rule.plan is not None for c in rule.plan(p)]


def _own(plan: PlanView, others: list[PlanView]) -> list[SegView]:
    """The segments of ``plan`` no other plan of its side uses (its agent's own blocks)."""
    used = {s.id for p in others for s in p.segments}
    return [s for s in plan.segments if s.id not in used]


def match_plans(old: dict[str, PlanView], new: dict[str, PlanView]) -> dict[str, str]:
    """Baseline plan name → new plan name for plans that were renamed (a plan gone under its name and
    another one added). Plans are matched as segments are: by content first — the same segment hashes
    in the same order (a byte-identical rename), else the same bytes in one of the plan's own segments
    (those no other plan uses) — then by name: one of its own segments under the same id (a rename
    with edits). Shared blocks alone never match: a plan that only shares the global block with a
    removed one is a new plan."""
    gone = [n for n in sorted(old) if n not in new]
    fresh = [n for n in sorted(new) if n not in old]
    if not gone or not fresh:
        return {}
    out: dict[str, str] = {}

    def sig(p: PlanView) -> tuple:
        return tuple((s.hash, s.content, s.template, s.entries) for s in p.segments)

    for o in gone:  # identical plans first
        m = next((n for n in fresh if n not in out.values() and sig(new[n]) == sig(old[o])), None)
        if m is not None:
            out[o] = m
    for key in (lambda s: s.hash, lambda s: s.id):  # by content, then by name
        for o in gone:
            if o in out:
                continue
            own = {key(s) for s in _own(old[o], [old[x] for x in old if x != o])} - {None}
            cands = [n for n in fresh if n not in out.values()
                     and own & {key(s) for s in _own(new[n], [new[x] for x in new if x != n])}]
            if len(cands) == 1:
                out[o] = cands[0]
    return out


def classify(old: dict[str, PlanView], new: dict[str, PlanView], old_snap: Snapshot | None,
             new_snap: Snapshot) -> list[Change]:
    """Every change between the baseline plans and the new plans (plans added and removed too)."""
    out = [c for rule in RULES if rule.project is not None for c in rule.project(old, new, old_snap, new_snap)]
    for name in sorted(set(old) & set(new)):
        out.extend(classify_plan(old[name], new[name], old_snap, new_snap))
    return out


def regrade(code: str, impacts: list, segment: str | None) -> tuple[str, list[str]]:
    """The code a change gets from what the wire loses (the first rule whose ``regrade`` applies), and
    the notes: the rule's, then the targets' (nothing cached before / after)."""
    targets = [t for imp in impacts for t in imp.targets]
    notes = list(dict.fromkeys(n for t in targets for n in t.notes))
    for rule in RULES:
        got = rule.regrade(code, targets, segment) if rule.regrade is not None else None
        if got is not None:
            return got[0], got[1] + notes
    return code, notes
