"""The prefix-sharing map: every plan of a project as one prefix tree.

Invariants (what the renderers rely on):

1. A node is one segment *at one prefix*: two plans pass through the same node exactly when their
   prefix hashes through that segment are equal (so a node's ``plans`` are the plans that share
   the cached prefix up to and including it; ``promptc show``'s "shared with" is ``plans`` minus
   the plan itself). Session and turn segments have no hash: they join a node by segment id under
   the same parent (their text is only known at run time).
2. The root's children are the plans' first segments; a plan is the path from the root to a leaf,
   and every plan ends in exactly one leaf (plans are whole paths, never prefixes of one another's).
3. Children are ordered by segment id then prefix hash, and plans by name: the same plans give the
   same tree, node ids and lane order, whatever the order they came in.
4. Widths are the node's own tokens for one chosen target (``None`` for a run-time segment), and a
   node's ``offset`` is the tokens before it along its prefix: the map's x axis is the prefix *in
   that target's wire order* (:func:`promptc.core.wire.wire_order`: tools first on most providers),
   and two plans share a node exactly when their wire prefixes through it are identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from promptc.core.wire import wire_order, wire_prefix_keys
from promptc.plan import Plan, PlanSegment


@dataclass
class Node:
    """One segment at one prefix, shared by the ``plans`` whose prefix through it is identical."""

    id: str  # "n1", "n2", ... in depth-first order (stable for the same plans)
    segment: str
    depth: int  # 0 for a plan's first segment
    level: str
    stability: str
    append_only: bool
    kind: str
    role: str
    source: str  # "path:line:col" relative to the project root
    hash: str | None
    prefix_hash: str | None
    tokens: dict[str, int] | None  # per target; None for session/turn segments
    breakpoints: tuple[str, ...]  # targets that place a cache breakpoint after this segment
    plans: list[str] = field(default_factory=list)
    children: list["Node"] = field(default_factory=list)
    offset: int = 0  # tokens before this node along its prefix, for the map's target

    def tokens_for(self, target: str) -> int | None:
        """This segment's tokens for ``target`` (None at run time or when the target is not its plan's)."""
        return (self.tokens or {}).get(target)

    def shared_with(self, plan: str) -> list[str]:
        """The other plans sharing the prefix through this node, as ``promptc show`` lists them."""
        return [p for p in self.plans if p != plan]

    def walk(self) -> Iterable["Node"]:
        """This node and its descendants, depth first."""
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass
class PrefixMap:
    """The tree of all plans (``roots``), the plans by name and the target the widths count."""

    roots: list[Node]
    plans: dict[str, Plan]
    target: str
    targets: list[str]  # every target of any plan, sorted
    root_label: str = "project"

    def nodes(self) -> list[Node]:
        """Every node, depth first (the order of their ids)."""
        return [n for r in self.roots for n in r.walk()]

    def path(self, plan: str) -> list[Node]:
        """The nodes of ``plan``, first segment to last."""
        out: list[Node] = []
        level = self.roots
        while True:
            nxt = next((n for n in level if plan in n.plans), None)
            if nxt is None:
                return out
            out.append(nxt)
            level = nxt.children

    def node_of(self, plan: str, segment: str) -> Node | None:
        """The node of ``segment`` on ``plan``'s path."""
        return next((n for n in self.path(plan) if n.segment == segment), None)

    def lanes(self) -> list[str]:
        """The plans in lane order: depth first, so the plans under any node are contiguous."""
        out: list[str] = []

        def visit(n: Node) -> None:
            if not n.children:
                out.extend(sorted(p for p in n.plans if p not in out))
            for c in n.children:
                visit(c)
        for r in self.roots:
            visit(r)
        return out

    def static_tokens(self, plan: str, target: str | None = None) -> int:
        """The plan's static prefix for ``target`` (default: the map's), as ``promptc show`` totals it."""
        t = target or self.target
        return sum(n.tokens_for(t) or 0 for n in self.path(plan))

    def total_width(self) -> int:
        """The longest static prefix of any plan, in the map's target's tokens."""
        return max((self.static_tokens(p) for p in self.plans), default=0)


def _location(seg: PlanSegment) -> str:
    return f"{seg.source.path}:{seg.source.line}:{seg.source.col}"


def _key(seg: PlanSegment) -> tuple[str, str]:
    # static segments join on their prefix hash; run-time ones on their id under the same parent
    return (seg.id, seg.prefix_hash or "")


def all_targets(plans: Mapping[str, Plan]) -> list[str]:
    """Every target name of any plan, sorted."""
    return sorted({t.name for p in plans.values() for t in p.targets})


def default_target(plans: Mapping[str, Plan]) -> str | None:
    """The target most plans name (ties: the first by name): the map's default width."""
    counts: dict[str, int] = {}
    for p in plans.values():
        for t in p.targets:
            counts[t.name] = counts.get(t.name, 0) + 1
    if not counts:
        return None
    return sorted(counts, key=lambda t: (-counts[t], t))[0]


def build_map(plans: Mapping[str, Plan], target: str | None = None, root_label: str = "project") -> PrefixMap:
    """The prefix tree of ``plans`` with widths for ``target`` (default: :func:`default_target`)."""
    target = target or default_target(plans) or ""
    roots: list[Node] = []
    index: dict[tuple, Node] = {}  # (parent node id or "", segment key) → node
    for name in sorted(plans):
        plan = plans[name]
        level, parent = roots, None
        # the map's target's wire order (tools first on most providers): nodes join on the wire prefix
        try:
            order = wire_order(target, plan.segments) if target else list(range(len(plan.segments)))
            wire_keys = wire_prefix_keys(target, plan.segments, lambda s: s.hash) if target else None
        except ValueError:  # a target of an unknown provider: plan order
            order, wire_keys = list(range(len(plan.segments))), None
        for depth, i in enumerate(order):
            seg = plan.segments[i]
            k = (id(parent), *_key(seg)) if wire_keys is None or wire_keys[i] is None else (id(parent), seg.id,
                                                                                              wire_keys[i])
            node = index.get(k)
            if node is None:
                node = Node(id="", segment=seg.id, depth=depth, level=seg.level, stability=seg.stability,
                            append_only=seg.append_only, kind=seg.kind, role=seg.role, source=_location(seg),
                            hash=seg.hash, prefix_hash=seg.prefix_hash,
                            tokens=dict(seg.tokens) if seg.tokens is not None else None,
                            breakpoints=tuple(sorted(seg.breakpoint or ())))
                index[k] = node
                level.append(node)
            node.plans.append(name)
            level, parent = node.children, node
    counter = 0

    def order(nodes: list[Node], offset: int) -> None:
        nonlocal counter
        nodes.sort(key=lambda n: (n.segment, n.prefix_hash or ""))
        for n in nodes:
            counter += 1
            n.id = f"n{counter}"
            n.offset = offset
            n.plans.sort()
            order(n.children, offset + (n.tokens_for(target) or 0))
    order(roots, 0)
    return PrefixMap(roots=roots, plans=dict(sorted(plans.items())), target=target, targets=all_targets(plans),
                     root_label=root_label)
