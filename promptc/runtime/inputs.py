"""Inputs for one run of a plan, from the command line or a file, split into session and turn inputs.

What ``promptc run -i KEY=VALUE`` and ``promptc demo --inputs FILE`` take, as a library call::

    values = parse_pairs(plan, ["file=api.py", "query=@question.txt", "n=3"])
    values |= read_inputs_file(plan, Path("inputs.json"))      # {"customer": {...}, "question": "..."}
    session, turn = split_inputs(plan, values)
    request = plan.bind(**session).render(**turn)

A string or enum input takes the text as is; every other type takes JSON (``n=3``,
``tags=["a","b"]``, ``customer={"name": "Ada"}``); ``KEY=@PATH`` reads the value from a UTF-8 file.
Every mistake is an :class:`~promptc.core.errors.InputError` (E401) naming the input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from promptc.core.errors import InputError
from promptc.plan import Plan, unknown_input_message


def _unknown(plan: Plan, key: str) -> str:
    declared = {s.name: s.stability for s in plan.inputs if s.stability != "static"}
    if key in {s.name for s in plan.inputs}:
        return f"`{key}` is a static input: a build-time constant, not given at run time"
    return unknown_input_message(key, declared)


def parse_pairs(plan: Plan, pairs: Iterable[str], base: Path | None = None) -> dict[str, Any]:
    """``KEY=VALUE`` strings → ``{name: value}``; ``KEY=@PATH`` reads PATH (relative to ``base``) as UTF-8."""
    specs = {s.name: s for s in plan.inputs}
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InputError(plan.name, [(pair, "expected KEY=VALUE (or KEY=@file)")])
        spec = specs.get(key)
        if spec is None or spec.stability == "static":
            raise InputError(plan.name, [(key, _unknown(plan, key))])
        if text.startswith("@"):
            path = (base or Path.cwd()) / text[1:]
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise InputError(plan.name, [(key, f"cannot read {text[1:]}: {reason}")]) from None
        if spec.type["type"] in ("string", "enum"):
            values[key] = text
            continue
        try:
            values[key] = json.loads(text)
        except (ValueError, RecursionError):
            problem = f"a {spec.type['type']} value is written as JSON, got {text!r}"
            raise InputError(plan.name, [(key, problem)]) from None
    return values


def read_inputs_file(plan: Plan, path: Path) -> dict[str, Any]:
    """A JSON object of inputs (``{"customer": {...}, "question": "..."}``) from ``path``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(plan.name, [(str(path), f"cannot read the inputs file: {reason}")]) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(plan.name, [(str(path), f"the inputs file is not JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise InputError(plan.name, [(str(path), "the inputs file holds one JSON object: {\"name\": value, ...}")])
    return data


def split_inputs(plan: Plan, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(session inputs, turn inputs)`` by each input's declared stability; an unknown name is E401."""
    stability = {s.name: s.stability for s in plan.inputs}
    session: dict[str, Any] = {}
    turn: dict[str, Any] = {}
    for key, value in values.items():
        if stability.get(key) not in ("session", "turn"):
            raise InputError(plan.name, [(key, _unknown(plan, key))])
        (session if stability[key] == "session" else turn)[key] = value
    return session, turn


def gather_inputs(plan: Plan, pairs: Iterable[str] = (), inputs_file: Path | None = None
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(session inputs, turn inputs)`` from an inputs file and ``KEY=VALUE`` pairs (the pairs win)."""
    values = read_inputs_file(plan, inputs_file) if inputs_file is not None else {}
    values.update(parse_pairs(plan, pairs))
    return split_inputs(plan, values)


__all__ = ["gather_inputs", "parse_pairs", "read_inputs_file", "split_inputs"]
