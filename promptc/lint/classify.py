"""Change classification: what changed between the baseline and the new plans, in cache terms.

Each :class:`Change` is one cause in one plan, with the position in the new plan from which the
cached prefix is lost (``break_at``; None when nothing cached is lost). :mod:`promptc.lint.run`
groups the same cause across plans into one finding.

Rules (one code each, see :mod:`promptc.core.codes.lint`):

* a cached segment's bytes changed: E901, or only whitespace E902 / only trailing whitespace E903,
  or E914 when the declaration is unchanged and an included file changed (line endings are
  normalized to LF by the compiler, so a line-ending-only change changes no byte: no finding);
* an append-only segment: grown at its end I906 — E904 when a target's wire sends it before other
  cached content, which is then re-written (decided from the impact, :func:`promptc.lint.run._by_wire`)
  — otherwise E905 naming the entry and whether it was inserted, removed, reordered or rewritten;
* segments are matched by content first: a cached segment renamed with the same bytes is I918;
* a role-only change is E901 saying so (never a whitespace finding);
* a segment moved E907, added E908 or removed E909 in the cached prefix; a stability changed E910;
* a target's model or tokenizer changed E911; targets added or removed I912;
* anything outside the cached prefix (session/turn templates, turn segments) I913;
* plans added I915 or removed I916.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def _ws_class(old: str, new: str) -> tuple[str, str] | None:
    if [x.rstrip() for x in old.split("\n")] == [x.rstrip() for x in new.split("\n")]:
        return "E903", "only trailing whitespace changed"
    if "".join(old.split()) == "".join(new.split()):
        return "E902", "only whitespace changed"
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


def _entries_change(old: SegView, new: SegView, new_snap: Snapshot, old_snap: Snapshot | None, i_new: int,
                    plan: PlanView) -> Change | None:
    o, n = old.entries or (), new.entries or ()
    if n[: len(o)] == o:
        if len(n) == len(o):
            return None
        added = len(n) - len(o)
        keep = {t: old.tokens.get(t, 0) for t in old.tokens}
        return Change("I906", plan.name, f"append-only segment `{new.id}` grew by {added} entr{'y' if added == 1 else 'ies'}"
                                         f" at its end ({_label(new, len(o))}{' …' if added > 1 else ''})",
                      new.id, locate.entry_location(new_snap, new, len(o), "new"), i_new, None, keep)
    i = _first_diff(o, n)
    if sorted(o) == sorted(n):
        how, loc = f"reordered ({_label(new, i)} is now at position {i + 1})", locate.entry_location(new_snap, new, i, "new")
    elif _is_subsequence(o, n):
        how, loc = f"{_label(new, i)} was inserted before the end", locate.entry_location(new_snap, new, i, "new")
    elif _is_subsequence(n, o):
        how = f"{_label(old, i) if old.labels else 'entry ' + str(i)} was removed"
        loc = locate.entry_location(old_snap, old, i, "baseline") if old.labels else locate.declaration(new_snap, new)
    else:
        same_name = old.labels and new.labels and i < len(old.labels) and i < len(new.labels) \
            and old.labels[i] == new.labels[i]
        how = f"{_label(new, i)} was rewritten" if same_name or not old.labels else \
            f"{_label(old, i)} was replaced by {_label(new, i)}"
        loc = locate.entry_location(new_snap, new, i, "new")
    return Change("E905", plan.name, f"append-only segment `{new.id}` changed before its end: {how}", new.id, loc,
                  i_new, hint="only append new entries at the end; the cached prefix from this segment on is lost")


def _content_change(old: SegView, new: SegView, old_snap: Snapshot | None, new_snap: Snapshot, i_new: int,
                    plan: PlanView) -> Change:
    notes: list[str] = []
    if old.content is not None and old.content == new.content and old.role and new.role and old.role != new.role:
        loc = locate.first_change(old_snap, old, new_snap, new) or locate.declaration(new_snap, new)
        return Change("E901", plan.name, f"static segment `{new.id}` changed: its role changed ({old.role} → "
                                         f"{new.role}), the text is the same", new.id, loc, i_new,
                      hint=f"restore `role {old.role}`; if the new role is intended, acknowledge the cache reset "
                           "(`# promptc: allow E901 — reason`)")
    ws = _ws_class(old.content, new.content) if old.content is not None and new.content is not None \
        and old.content != new.content else None
    decl_same = locate.first_change(old_snap, old, new_snap, new) is None and old_snap is not None \
        and old_snap.root is not None
    if decl_same:
        inc = locate.changed_include(old_snap, new_snap, new)
        if inc is not None:
            loc, rel = inc
            where = locate.file_first_change(old_snap, new_snap, rel)
            if where is not None:
                notes.append(f"{rel} changed at line {where.line}")
            if ws:
                notes.append(ws[1])
            return Change("E914", plan.name, f"static segment `{new.id}` changed through its include `{rel}`",
                          new.id, loc, i_new, notes=tuple(notes),
                          hint="included files are part of the static bytes; if the reset is intended, say so "
                               "with `# promptc: allow E914 — reason` above the segment")
        notes.append("the declaration is unchanged: an input default or an imported value changed")
    loc = locate.first_change(old_snap, old, new_snap, new) or locate.declaration(new_snap, new)
    if ws:
        code, what = ws
        return Change(code, plan.name, f"static segment `{new.id}` changed: {what} (still a cache break)", new.id,
                      loc, i_new, notes=tuple(notes), hint="revert the whitespace change")
    return Change("E901", plan.name, f"static segment `{new.id}` changed", new.id, loc, i_new, notes=tuple(notes),
                  hint=f"if the cache reset is intended, acknowledge these bytes: `# promptc: allow E901 "
                       f"@{(new.hash or '').removeprefix('sha256:')[:12]} — reason` above the segment, or bump "
                       "`cache_epoch` in [tool.promptc]")


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


def _targets(old: PlanView, new: PlanView) -> tuple[list[Change], tuple[str, ...]]:
    """Target changes, and the targets whose caches carry over (same name and tokenizer)."""
    o = {t.name: t for t in old.targets}
    n = {t.name: t for t in new.targets}
    carried = tuple(name for name in n if name in o and o[name].tokenizer == n[name].tokenizer)
    out: list[Change] = []
    fresh = [name for name in n if name not in carried]
    gone = [name for name in o if name not in n]
    retok = [name for name in n if name in o and o[name].tokenizer != n[name].tokenizer]
    loc = None
    if fresh and (gone or retok):
        parts = [f"`{g}` → `{f}`" for g, f in zip(gone, [x for x in fresh if x not in retok])]
        parts += [f"`{r}` tokenizer {o[r].tokenizer} → {n[r].tokenizer}" for r in retok]
        out.append(Change("E911", new.name, f"plan `{new.name}`: target changed ({', '.join(parts)}): every cached "
                                            "prefix of the old target is invalidated", None, loc, 0, 0,
                          targets=tuple(fresh), group=("E911", new.name),
                          hint="a model or tokenizer change always re-writes the whole static prefix"))
    elif fresh or gone:
        what = ", ".join([f"added `{f}`" for f in fresh] + [f"removed `{g}`" for g in gone])
        out.append(Change("I912", new.name, f"plan `{new.name}`: targets changed ({what}); the other targets keep "
                                            "their caches", None, loc, group=("I912", new.name)))
    return out, carried


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


def classify_plan(old: PlanView, new: PlanView, old_snap: Snapshot | None, new_snap: Snapshot) -> list[Change]:
    """Every change between two versions of one plan."""
    out, carried = _targets(old, new)
    plan_loc = locate.at(new_snap, new.span.path, new.span.line, new.span.col) if new.span else None
    for c in out:
        c.location, c.suppress_at = _target_location(new_snap, new, c) or plan_loc, new
    # identity by content first (the provider caches bytes, not names): a cached segment that is gone
    # under its old name and present, byte for byte, under a new one was renamed, not removed + added
    n_ids = {s.id for s in new.segments}
    gone = [s for s in old.segments if s.id not in n_ids and s.hash]
    renamed: dict[str, str] = {}  # old id -> new id
    for s in new.segments:
        if s.hash and s.id not in {o.id for o in old.segments}:
            m = next((g for g in gone if g.hash == s.hash and g.id not in renamed), None)
            if m is not None:
                renamed[m.id] = s.id
    for old_id, new_id in renamed.items():
        seg = next(x for x in new.segments if x.id == new_id)
        c = Change("I918", new.name, f"segment `{old_id}` was renamed `{new_id}`: same bytes, every cached prefix "
                                     "stays valid", new_id, locate.declaration(new_snap, seg) or plan_loc,
                   suppress_at=seg)
        c.group = ("I918", old_id, new_id)
        out.append(c)
    old_ids = [renamed.get(s.id, s.id) for s in old.segments]
    new_ids = [s.id for s in new.segments]
    o_by, n_by = {renamed.get(s.id, s.id): s for s in old.segments}, {s.id: s for s in new.segments}
    o_end, n_end = old.static_end(), new.static_end()

    def plan_change(code, msg, break_at, old_break, seg_id, hint=None):
        c = Change(code, new.name, msg, seg_id, plan_loc, break_at, old_break, hint=hint, suppress_at=new,
                   targets=carried)
        c.group = (code, new.name, msg)
        out.append(c)

    moved = _moved(old_ids, new_ids)
    if moved:
        first = next(i for i, (a, b) in enumerate(zip(old_ids, new_ids)) if a != b)
        cached = first < max(o_end, n_end)
        names = ", ".join(f"`{m}`" for m in sorted(moved, key=new_ids.index))
        plan_change("E907" if cached else "I913",
                    f"plan `{new.name}`: {names} moved ([{', '.join(old_ids)}] → [{', '.join(new_ids)}])",
                    first if cached else None, first if cached else None, sorted(moved, key=new_ids.index)[0],
                    hint="keep the order of cached segments" if cached else None)
    for i, sid in enumerate(new_ids):
        if sid not in o_by:
            cached = n_by[sid].cached and i < n_end
            c = Change("E908" if cached else "I913", new.name,
                       f"plan `{new.name}`: segment `{sid}` was added" + (" inside the cached prefix" if cached else
                                                                          " after the cached prefix"),
                       sid, locate.declaration(new_snap, n_by[sid]) or plan_loc, i if cached else None,
                       min(i, o_end) if cached else None, targets=carried, suppress_at=n_by[sid],
                       hint="add static segments at the end of the static prefix" if cached else None)
            c.group = (c.code, new.name, sid)
            out.append(c)
    for j, sid in enumerate(old_ids):
        if sid not in n_by:
            cached = o_by[sid].cached and j < o_end
            brk = min(j, n_end)
            loc = locate.declaration(old_snap, o_by[sid], "baseline") if old_snap is not None else None
            plan_change("E909" if cached else "I913", f"plan `{new.name}`: segment `{sid}` was removed"
                        + (" from the cached prefix" if cached else ""), brk if cached else None,
                        j if cached else None, sid)
            if loc is not None:
                out[-1].location = loc
    for i, s in enumerate(new.segments):
        o = o_by.get(s.id)
        if o is None:
            continue
        c: Change | None = None
        if o.stability != s.stability:
            cached = o.cached or s.cached
            c = Change("E910" if cached else "I913", new.name,
                       f"segment `{s.id}`: stability {o.stability} → {s.stability}"
                       + ("" if cached else " (outside the cached prefix)"), s.id,
                       locate.first_change(old_snap, o, new_snap, s) or locate.declaration(new_snap, s),
                       min(i, n_end) if cached else None, min(old_ids.index(s.id), o_end) if cached else None)
        elif o.cached and s.cached and o.hash != s.hash:
            if o.entries is not None and s.entries is not None:
                c = _entries_change(o, s, new_snap, old_snap, i, new)
            else:
                c = _content_change(o, s, old_snap, new_snap, i, new)
            if c is not None:
                c.old_break = old_ids.index(s.id)
        elif not o.cached and not s.cached and ((o.template is not None and o.template != s.template)
                                                 or (o.kind is not None and o.kind != s.kind)):
            loc = locate.first_change(old_snap, o, new_snap, s) or locate.declaration(new_snap, s)
            c = Change("I913", new.name, f"{s.stability} segment `{s.id}` changed: no cached prefix is affected",
                       s.id, loc)
        if c is not None:
            c.targets = carried if c.targets is None else c.targets
            c.suppress_at = s
            c.group = (c.code, s.module, s.id, c.message)
            out.append(c)
    return out


def classify(old: dict[str, PlanView], new: dict[str, PlanView], old_snap: Snapshot | None,
             new_snap: Snapshot) -> list[Change]:
    """Every change between the baseline plans and the new plans (plans added and removed too)."""
    out: list[Change] = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            p = new[name]
            loc = locate.at(new_snap, p.span.path, p.span.line, p.span.col) if p.span else None
            out.append(Change("I915", name, f"plan `{name}` was added", None, loc, group=("I915", name),
                              suppress_at=p))
        elif name not in new:
            p = old[name]
            loc = None
            if p.span is not None and old_snap is not None and old_snap.root is not None:
                loc = locate.at(old_snap, p.span.path, p.span.line, p.span.col, side="baseline")
            out.append(Change("I916", name, f"plan `{name}` was removed", None, loc, group=("I916", name)))
        else:
            out.extend(classify_plan(old[name], new[name], old_snap, new_snap))
    return out
