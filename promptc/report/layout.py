"""Where each node of the map goes: the x axis is the prefix in tokens, one lane per plan.

A node spans the lanes of the plans under it (lanes are in depth-first order, so they are
contiguous) and its width is its own tokens for the map's target. Run-time segments (session, turn)
have no token count at build time: they get a nominal width (:data:`RUNTIME_SHARE` of the longest
static prefix) and are drawn as such.

Aggregation: a node with more than ``max_children`` children keeps the ``max_children - 1`` that
carry the most plans (ties in tree order) and folds the rest into one "+K more" box spanning one
lane, so a project of hundreds of plans stays a readable map; the tables below the map list every
plan and segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from promptc.report.model import Node, PrefixMap

#: Children drawn under one node before the rest fold into a "+K more" box.
MAX_CHILDREN = 8
#: The nominal width of a run-time segment, as a share of the longest static prefix.
RUNTIME_SHARE = 0.12


@dataclass(frozen=True)
class Box:
    """One drawn rectangle, in token units along x and lanes along y."""

    node: Node | None  # None for a "+K more" box
    x: float
    w: float
    lane: int
    lanes: int
    runtime: bool = False  # the width is nominal: the segment is rendered at run time
    folded: tuple[str, ...] = ()  # the plans a "+K more" box stands for
    parent: str = ""  # the id of the parent node ("" at the root)


@dataclass
class Layout:
    """The boxes of the map, the lane labels, and the width in token units."""

    boxes: list[Box] = field(default_factory=list)
    lanes: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (label, plans in the lane)
    width: float = 0.0
    runtime_width: float = 0.0


def _plans_under(nodes: list[Node]) -> list[str]:
    return sorted({p for n in nodes for p in n.plans})


def layout(prefix_map: PrefixMap, max_children: int = MAX_CHILDREN) -> Layout:
    """The boxes of ``prefix_map``, folding beyond ``max_children`` children per node."""
    out = Layout()
    rt = max(prefix_map.total_width() * RUNTIME_SHARE, 1.0)
    out.runtime_width = rt
    target = prefix_map.target

    def kept(children: list[Node]) -> tuple[list[Node], list[Node]]:
        if len(children) <= max_children:
            return children, []
        order = sorted(range(len(children)), key=lambda i: (-len(children[i].plans), i))
        keep = sorted(order[: max_children - 1])
        return [children[i] for i in keep], [c for i, c in enumerate(children) if i not in keep]

    def place(nodes: list[Node], x: float, parent: str) -> None:
        shown, folded = kept(nodes)
        for n in shown:
            lane = len(out.lanes)
            tokens = n.tokens_for(target)
            runtime = tokens is None
            w = rt if runtime else float(tokens)
            if n.children:
                place(n.children, x + w, n.id)
            leaf_plans = tuple(p for p in n.plans if not any(p in c.plans for c in n.children))
            if leaf_plans:
                out.lanes.append((", ".join(leaf_plans), leaf_plans))
            out.boxes.append(Box(node=n, x=x, w=w, lane=lane, lanes=len(out.lanes) - lane, runtime=runtime,
                                 parent=parent))
            out.width = max(out.width, x + w)
        if folded:
            plans = tuple(_plans_under(folded))
            rest = max(prefix_map.static_tokens(p) for p in plans) - x
            w = max(rest, 0.0) + rt
            out.lanes.append((f"+{len(plans)} more", plans))
            out.boxes.append(Box(node=None, x=x, w=w, lane=len(out.lanes) - 1, lanes=1, folded=plans, parent=parent))
            out.width = max(out.width, x + w)

    place(prefix_map.roots, 0.0, "")
    out.boxes.sort(key=lambda b: (b.lane, b.x))
    return out
