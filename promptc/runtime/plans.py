"""Which plan a command runs: a compiled ``.plan.json``, or one plan of a ``.prompt`` file or project.

The runtime never imports the compiler (docs/architecture.md): a caller that accepts sources passes
``compile_sources``, a function from a path to ``(project root, {name: plan})`` (the CLI passes one
over ``promptc.compiler.build.compile_project``). ``promptc run`` and ``promptc show`` take the same
paths this way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from promptc.plan import Plan, load_plan

CompileSources = Callable[[Path], "tuple[Path, Mapping[str, Plan]]"]


class PlanChoiceError(ValueError):
    """The path holds no plan of that name, or several plans and no name was given (a usage error)."""


def is_plan_file(path: Path) -> bool:
    """True for a compiled plan file (``*.plan.json``)."""
    return path.name.endswith(".plan.json") and not path.is_dir()


def open_plans(path: Path, compile_sources: CompileSources | None = None) -> tuple[list[str], dict[str, Plan]]:
    """``(names the path declares, every plan it builds)``: one loaded plan for a ``.plan.json``; for a
    ``.prompt`` file the plans declared in that file (its imports may build more); for a directory, all."""
    if is_plan_file(path):
        plan = load_plan(path)
        return [plan.name], {plan.name: plan}
    if compile_sources is None:
        raise PlanChoiceError(f"{path} is not a compiled .plan.json file")
    root, plans = compile_sources(path)
    if path.is_file():
        target = path.resolve()
        names = [n for n, p in plans.items() if (root / p.source.path).resolve() == target]
    else:
        names = list(plans)
    return names, dict(plans)


def choose_plan(path: Path, names: list[str], plans: Mapping[str, Plan], plan_name: str | None) -> Plan:
    """The plan called ``plan_name``, or the only plan ``path`` declares."""
    if plan_name:
        if plan_name not in plans:
            raise PlanChoiceError(f"no plan `{plan_name}` in {path} (plans: {', '.join(names) or 'none'})")
        return plans[plan_name]
    if len(names) != 1:
        raise PlanChoiceError(f"{path} declares {len(names)} plans ({', '.join(names) or 'none'}); "
                              "choose one with --plan")
    return plans[names[0]]


def open_plan(path: Path, plan_name: str | None = None, compile_sources: CompileSources | None = None) -> Plan:
    """The plan to run from ``path`` (see :func:`open_plans` and :func:`choose_plan`)."""
    names, plans = open_plans(path, compile_sources)
    return choose_plan(path, names, plans, plan_name)


__all__ = ["PlanChoiceError", "choose_plan", "is_plan_file", "open_plan", "open_plans"]
