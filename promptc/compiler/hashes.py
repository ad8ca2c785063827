"""Hash every plan once: segment hashes and the prefix chain of the static prefix.

Runs after rendering and boundary fixing (which may still change static text) and before the
annotator, so each static segment is hashed exactly once from its final content
(``hash = sha256(canonical {"content", "role"})``, ``prefix_hash = sha256(parent || hash)``; see
:mod:`promptc.core.hashing`). Session and turn segments are hashed at run time, when they render.
"""

from __future__ import annotations

from promptc.core.hashing import chain, segment_hash
from promptc.plan import Plan


def hash_plan(plan: Plan) -> Plan:
    """``plan`` with ``hash`` and ``prefix_hash`` set on every static segment of its prefix."""
    parent: str | None = None
    segments = []
    for seg in plan.segments:
        if seg.is_static:
            h = segment_hash(seg.role, seg.content)
            parent = chain(parent, h)
            seg = seg.model_copy(update={"hash": h, "prefix_hash": parent})
        segments.append(seg)
    return plan.model_copy(update={"segments": segments})


def hash_plans(plans: dict[str, Plan]) -> dict[str, Plan]:
    """:func:`hash_plan` for every plan, in name order."""
    return {name: hash_plan(plans[name]) for name in sorted(plans)}
