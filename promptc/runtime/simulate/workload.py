"""Workloads for ``promptc simulate``: plans, one session per plan, and timed turns.

A :class:`Workload` comes from one of three places:

- :func:`working_day`: the built-in one — every plan given (the team example's backend, frontend
  and docs agents) over a simulated working day, 09:00 to 16:43: bursts of turns 45 seconds to 4
  minutes apart, short breaks of 6 to 13 minutes, two meetings (31 and 43 minutes) and a 65-minute
  lunch. Fully deterministic: no randomness, the same 240 turns every time (:data:`DAY`).
- :func:`load_workload`: a JSON, TOML or YAML file (YAML when PyYAML is installed)::

      # day.toml
      plans = ["examples/team"]          # directories, .prompt files or compiled .plan.json files,
                                          # relative to this file (sources need the CLI to compile)
      [session.backend]                   # session inputs per plan (optional)
      [[turns]]
      plan = "backend"
      at = "09:00"                        # a clock time HH:MM[:SS], or seconds from the start
      inputs = { file = "api/users.py", query = "Why does GET /users return 500?" }
      [[turns]]
      plan = "frontend"
      after = "90s"                       # or: seconds (or "5m", "1h") after the previous turn
      inputs = { file = "web/src/App.tsx", query = "Add a loading state." }

  Each turn has ``plan`` and exactly one of ``at`` / ``after`` (the first turn may have neither:
  it starts the day); times never go back. Mistakes are coded and located: E540 (unreadable file,
  with ``line:col``), E541 (a missing, unknown or mistyped field, with its field path, or inputs
  the plan rejects), E542 (a plan the workload does not provide), E543 (a bad time or gap).
- :func:`from_trace`: the requests of a cache trace (``Client(trace=...)``) — plan and timestamp of
  each successful request. The trace holds hashes and counts, not text, so the turn inputs are
  *synthesized*: filler text sized so each turn has about as many tokens as the traced prompt's
  non-cached tail (E544 when the trace has no usable request or names a plan not given).

Requests are rendered once per workload (:attr:`Workload.requests`): they are provider-neutral, so
every target replays the same ones.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from promptc.core.errors import PromptcError
from promptc.plan import Plan, Request
from promptc.runtime.plans import CompileSources, PlanChoiceError, open_plans


class WorkloadError(PromptcError):
    """A workload file or trace that cannot be replayed; ``code`` is one of E540–E544."""

    def __init__(self, code: str, where: str, message: str, hint: str | None = None):
        self.code = code
        self.where = where
        text = f"error[{code}]: {where}: {message}" if where else f"error[{code}]: {message}"
        if hint:
            text += f"\n  = hint: {hint}"
        super().__init__(text)


@dataclass(frozen=True)
class Turn:
    """One request of the workload: ``at`` seconds from the start, the ``plan`` and its turn inputs."""

    at: float
    plan: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    """Plans, session inputs per plan, and the turns in time order (``requests``: rendered once)."""

    name: str
    plans: Mapping[str, Plan]
    turns: tuple[Turn, ...]
    sessions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    requests: tuple[Request, ...] = ()
    note: str | None = None  # e.g. that turn contents were synthesized

    @property
    def duration_s(self) -> float:
        return self.turns[-1].at - self.turns[0].at if self.turns else 0.0


def render_requests(name: str, plans: Mapping[str, Plan], turns: list[Turn],
                    sessions: Mapping[str, Mapping[str, Any]], where: Callable[[int], str] | None = None,
                    note: str | None = None) -> Workload:
    """Bind one session per plan and render every turn: the :class:`Workload` (E541 on inputs a plan rejects)."""
    bound: dict[str, Any] = {}
    requests = []
    for n, turn in enumerate(turns):
        loc = where(n) if where else f"turns[{n}]"
        try:
            if turn.plan not in bound:
                bound[turn.plan] = plans[turn.plan].bind(**dict(sessions.get(turn.plan, {})))
            requests.append(bound[turn.plan].render(**dict(turn.inputs)))
        except PromptcError as exc:
            errors = getattr(exc, "errors", None)  # InputError: (field path, message) pairs
            detail = ("; ".join(f"{p}: {m}" for p, m in errors) if errors else
                      re.sub(r"^error\[\w+\]: ", "", str(exc)).replace("\n", " "))
            raise WorkloadError("E541", loc, f"plan `{turn.plan}` rejects these inputs ({detail})",
                                "give every input the plan declares, with its type (see `promptc show`)") from None
    return Workload(name, dict(plans), tuple(turns), {k: dict(v) for k, v in sessions.items()}, tuple(requests), note)


# -- the built-in working day ---------------------------------------------------------------------------
#: (start "HH:MM", number of turns, seconds between turns): bursts of work, round robin over the
#: agents. The gaps between bursts are the pauses: six short breaks of 6 to 13 minutes (longer than
#: Anthropic's 5-minute TTL), a 31-minute meeting, a 65-minute lunch (longer than every short TTL)
#: and a 43-minute meeting. Inside a burst an agent waits 2.25 to 12 minutes between its own turns.
DAY: tuple[tuple[str, int, int], ...] = (
    ("09:00", 30, 60),    # 09:00-09:29
    ("09:37", 12, 90),    # after a coffee break; until 09:53:30
    ("10:00", 24, 75),    # until 10:28:45, then a meeting
    ("11:00", 30, 60),    # until 11:29
    ("11:35", 6, 240),    # slow before lunch, turns four minutes apart, until 11:55
    ("13:00", 36, 50),    # after lunch, until 13:29:10
    ("13:40", 12, 120),   # until 14:02, then a meeting
    ("14:45", 36, 60),    # until 15:20
    ("15:30", 24, 45),    # until 15:47:15
    ("16:00", 30, 90),    # until 16:43:30
)

FILES = {
    "backend": ("api/users.py", "api/orders.py", "api/models/order.py", "migrations/0042_add_refunds.py"),
    "frontend": ("web/src/App.tsx", "web/src/pages/Cart.tsx", "web/src/hooks/useOrders.ts"),
    "docs": ("docs/index.md", "docs/api/orders.md", "docs/howto/refunds.md"),
}
QUERIES = (
    "Why does this fail with a 500 when the cart is empty?",
    "Add a test for the refund path and keep the change small.",
    "Explain what this function does, step by step.",
    "Rename the helper so its name says what it returns.",
    "Which callers break if I change the return type here?",
    "Write the migration for the new refunds table.",
    "Make the error message tell the user what to do next.",
    "Review this diff: is anything missing before I merge it?",
)


def _clock(text: str) -> float:
    h, m = text.split(":")
    return int(h) * 3600 + int(m) * 60


def day_turns(plan_names: list[str]) -> list[Turn]:
    """The working day's turns over ``plan_names`` (round robin, so agents interleave), with the
    team example's ``file`` and ``query`` inputs; other plans get the same values for string inputs
    of those names (see :func:`working_day`)."""
    turns: list[Turn] = []
    start = _clock(DAY[0][0])
    n = 0
    for begin, count, gap in DAY:
        t0 = _clock(begin) - start
        for k in range(count):
            plan = plan_names[n % len(plan_names)]
            files = FILES.get(plan, FILES["backend"])
            turns.append(Turn(float(t0 + k * gap), plan,
                              {"file": files[(n // len(plan_names)) % len(files)], "query": QUERIES[n % len(QUERIES)]}))
            n += 1
    return turns


def working_day(plans: Mapping[str, Plan], names: list[str] | None = None) -> Workload:
    """The built-in workload over ``names`` (default: every plan): string turn inputs are filled
    (``file`` and ``query`` with the team example's values, others with a short sentence); a plan
    with a session input or a non-string turn input needs a workload file (E541)."""
    names = list(names or sorted(plans))
    if not names:
        raise WorkloadError("E542", "", "no plans to simulate", "pass a project directory, a .prompt file or plan files")
    fills: dict[str, dict[str, str | None]] = {}
    for name in names:
        plan = plans[name]
        fill: dict[str, str | None] = {}
        for spec in plan.inputs:
            if spec.stability == "static" or spec.has_default:
                continue
            if spec.stability == "session" or spec.type.get("type") not in ("string", "enum"):
                raise WorkloadError("E541", f"plan {name}", f"the built-in working day cannot fill the "
                                    f"{spec.stability} input `{spec.name}` ({spec.type.get('type')})",
                                    "describe the day in a workload file (--workload) with its inputs")
            fill[spec.name] = spec.type["values"][0] if spec.type.get("type") == "enum" else None
        fills[name] = fill
    turns = []
    for t in day_turns(names):
        # strings: the team example's file and query, else a sentence; enums: their first value
        inputs = {k: v if v is not None else t.inputs.get(k) or f"Please look at {k} for the {t.plan} agent."
                  for k, v in fills[t.plan].items()}
        turns.append(Turn(t.at, t.plan, inputs))
    return render_requests("working day", plans, turns, {})


# -- workload files -------------------------------------------------------------------------------------
# matched with fullmatch on the stripped text: two adjacent \s* runs backtracked quadratically
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_TOP = {"plans", "session", "turns", "name"}
_TURN = {"plan", "at", "after", "inputs"}


def _parse_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkloadError("E540", str(path), f"cannot read the workload: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return json.loads(text)
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise WorkloadError("E540", str(path), "YAML workloads need PyYAML",
                                    "pip install pyyaml, or write the workload as JSON or TOML") from None
            try:
                return yaml.safe_load(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
                raise WorkloadError("E540", where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except json.JSONDecodeError as exc:
        raise WorkloadError("E540", f"{path}:{exc.lineno}:{exc.colno}", f"not valid JSON: {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"{path}:{m.group(1)}:{m.group(2)}" if m else str(path)
        if "(at end of document)" in str(exc):
            last = text.split("\n")
            where = f"{path}:{len(last)}:{len(last[-1]) + 1}"
        message = re.sub(r" \(at (line \d+, column \d+|end of document)\)", "", str(exc))
        raise WorkloadError("E540", where, f"not valid TOML: {message}") from None
    except RecursionError:
        raise WorkloadError("E540", str(path), "the workload is nested too deeply to read") from None
    except ValueError as exc:  # e.g. an integer over Python's 4300-digit conversion limit
        raise WorkloadError("E540", str(path), f"cannot read the workload: {exc}") from None
    raise WorkloadError("E540", str(path), f"unknown workload format `{suffix or '(none)'}`",
                        "name the file .json, .toml, .yaml or .yml")


def parse_seconds(value: Any, where: str, clock: bool = False) -> float:
    """Seconds from a number, a duration (``"90s"``, ``"5m"``, ``"1.5h"``, ``"250ms"``) or, when
    ``clock``, a time of day ``"HH:MM[:SS]"`` (E543 otherwise)."""
    if isinstance(value, bool) or value is None:
        raise WorkloadError("E543", where, f"expected seconds or a duration like \"90s\", got {_shown(value)}")
    if isinstance(value, (int, float)):
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_SECONDS:
            raise WorkloadError("E543", where, f"{_shown(value)} is not a usable number of seconds",
                                f"times are finite and within {MAX_SECONDS:.0f} seconds")
        if value < 0:
            raise WorkloadError("E543", where, f"{value} is negative")
        return float(value)
    if isinstance(value, str):
        m = _CLOCK.fullmatch(value.strip()) if clock else None
        if m:
            h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
            if h < 24 and mi < 60 and s < 60:
                return float(h * 3600 + mi * 60 + s)
        m = _DURATION.fullmatch(value.strip())
        if m:
            scale = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]
            seconds = float(m.group(1)) * scale
            if math.isfinite(seconds) and seconds <= MAX_SECONDS:
                return seconds
    want = "a time HH:MM[:SS], seconds or a duration" if clock else "seconds or a duration"
    raise WorkloadError("E543", where, f"expected {want} like \"90s\", \"5m\" or \"1h\", got {_shown(value)}")


#: The longest time a workload may span (a year): beyond it a simulation means nothing.
MAX_SECONDS = 366 * 86400.0


def _shown(value: Any) -> str:
    """``value`` as an error shows it: JSON where it is JSON, else its text (a TOML date or time,
    a NaN), at most 80 characters."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _plans_from(paths: list[Path], where: str, compile_sources: CompileSources | None) -> dict[str, Plan]:
    plans: dict[str, Plan] = {}
    for p in paths:
        if not p.exists():
            raise WorkloadError("E542", where, f"{p} does not exist",
                                "plans are paths relative to the workload file")
        try:
            _, found = open_plans(p, compile_sources)
        except PlanChoiceError as exc:
            raise WorkloadError("E542", where, str(exc),
                                "give compiled .plan.json files, or run `promptc simulate`, which compiles "
                                "sources") from None
        plans.update(found)
    return plans


def load_workload(path: str | Path, *, plans: Mapping[str, Plan] | None = None,
                  compile_sources: CompileSources | None = None) -> Workload:
    """Read a workload file (see the module doc). ``plans`` (from the command line) replace the
    file's ``plans``; ``compile_sources`` compiles source paths (the CLI passes the compiler)."""
    path = Path(path)
    data = _parse_file(path)
    f = str(path)
    if not isinstance(data, dict):
        raise WorkloadError("E541", f, "a workload is a table/object with `plans` and `turns`")
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise WorkloadError("E541", f"{f}: {unknown[0]}", "unknown field",
                            f"a workload has the fields {', '.join(sorted(_TOP))}")
    if plans is None:
        raw = data.get("plans")
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
            raise WorkloadError("E541", f"{f}: plans", "expected a path or a list of paths to plans",
                                "plans = [\"examples/team\"] (or pass the plans on the command line)")
        plans = _plans_from([path.parent / x for x in raw], f"{f}: plans", compile_sources)
    sessions = data.get("session", {})
    if not isinstance(sessions, dict) or not all(isinstance(v, dict) for v in sessions.values()):
        raise WorkloadError("E541", f"{f}: session", "expected a table of session inputs per plan")
    for name in sessions:
        if name not in plans:
            raise WorkloadError("E542", f"{f}: session.{name}", f"no plan `{name}` in the workload's plans "
                                f"({', '.join(sorted(plans))})")
    raw_turns = data.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        raise WorkloadError("E541", f"{f}: turns", "expected a non-empty list of turns")
    turns: list[Turn] = []
    now = base = 0.0  # base: the first turn's clock time, when it gives one
    for n, t in enumerate(raw_turns):
        loc = f"{f}: turns[{n}]"
        if not isinstance(t, dict):
            raise WorkloadError("E541", loc, "a turn is a table/object with `plan` and `at` or `after`")
        extra = sorted(set(t) - _TURN)
        if extra:
            raise WorkloadError("E541", f"{loc}.{extra[0]}", "unknown field",
                                f"a turn has the fields {', '.join(sorted(_TURN))}")
        plan = t.get("plan")
        if not isinstance(plan, str):
            raise WorkloadError("E541", f"{loc}.plan", "missing or not a string")
        if plan not in plans:
            raise WorkloadError("E542", f"{loc}.plan", f"no plan `{plan}` in the workload's plans "
                                f"({', '.join(sorted(plans))})")
        inputs = t.get("inputs", {})
        if not isinstance(inputs, dict):
            raise WorkloadError("E541", f"{loc}.inputs", "expected a table/object of turn inputs")
        if "at" in t and "after" in t:
            raise WorkloadError("E543", loc, "give `at` or `after`, not both")
        if "at" in t:
            at = parse_seconds(t["at"], f"{loc}.at", clock=True)
            if n == 0:
                base = at
            at -= base
            if at < now:
                raise WorkloadError("E543", f"{loc}.at", "goes back in time (before the previous turn)",
                                    "turns are listed in time order")
        elif "after" in t:
            at = now + parse_seconds(t["after"], f"{loc}.after")
        elif n == 0:
            at = 0.0
        else:
            raise WorkloadError("E543", loc, "a turn after the first needs `at` or `after`")
        now = at
        turns.append(Turn(at, plan, dict(inputs)))
    name = data.get("name", path.name)
    if not isinstance(name, str):
        raise WorkloadError("E541", f"{f}: name", "expected a string")
    return render_requests(name, plans, turns, sessions, where=lambda i: f"{f}: turns[{i}].inputs")


# -- from a cache trace ---------------------------------------------------------------------------------
#: The most filler tokens one replayed turn gets (the largest contexts are about 2M tokens).
MAX_FILLER_TOKENS = 2_000_000


def _filler(n: int) -> str:
    # " data" is one o200k token; n of them make n tokens (the simulator counts with o200k_base)
    return " data" * max(0, n)


def from_trace(path: str | Path, plans: Mapping[str, Plan], counter: Callable[[str], int]) -> Workload:
    """The workload of a cache trace: each successful request's plan and time; turn inputs synthesized
    so the turn segments have about the traced prompt's uncached tail in tokens (``counter`` counts
    text tokens; the prompt's stable part is the plan's own). Trace ``ts`` are seconds."""
    from promptc.runtime.trace import read_trace

    f = str(path)
    records = [r for r in read_trace(path) if "event" not in r and r.get("status") == "ok" and r.get("plan")]
    if not records:
        raise WorkloadError("E544", f, "the trace has no successful request to replay",
                            "record one with promptc.Client(..., trace=PATH)")
    missing = sorted({r["plan"] for r in records} - set(plans))
    if missing:
        raise WorkloadError("E544", f, f"the trace names plan `{missing[0]}`, which the plans given do not hold "
                            f"({', '.join(sorted(plans)) or 'none'})", "pass the project the trace was recorded with")
    for name in {r["plan"] for r in records}:
        for spec in plans[name].inputs:
            if spec.stability == "session" and not spec.has_default:
                raise WorkloadError("E544", f, f"plan `{name}` has the session input `{spec.name}`, which a trace "
                                    "does not record", "write a workload file with the session inputs")
    records.sort(key=lambda r: float(r.get("ts") or 0))
    t0 = float(records[0].get("ts") or 0)
    bound: dict[str, Any] = {}  # one session per plan, to measure each turn's fixed part
    turns: list[Turn] = []
    for r in records:
        plan = plans[r["plan"]]
        strings = [s for s in plan.inputs if s.stability == "turn" and not s.has_default]
        if any(s.type.get("type") not in ("string", "enum") for s in strings):
            raise WorkloadError("E544", f, f"plan `{plan.name}` has a non-string turn input; its contents cannot be "
                                "synthesized from a trace", "write a workload file with the inputs")
        base = {s.name: (s.type["values"][0] if s.type.get("type") == "enum" else "") for s in strings}
        if plan.name not in bound:
            bound[plan.name] = plan.bind()
        req = bound[plan.name].render(**base)
        tail = sum(counter(s.content) for s in req.segments if s.stability == "turn")
        u = r.get("usage") or {}
        prompt = sum(u.get(k) or 0 for k in ("uncached", "cache_read", "cache_write_total"))
        stable = sum(counter(s.content) for s in req.segments if s.stability != "turn" and s.kind != "tools")
        # tools are counted by each provider in its own encoding; the traced prompt includes them, so the
        # turn's share is what remains after the text segments and the estimated tools
        tools = sum(counter(s.content) for s in req.segments if s.stability != "turn" and s.kind == "tools")
        want = prompt - stable - tools if prompt else tail
        if want - tail > MAX_FILLER_TOKENS:
            raise WorkloadError("E544", f, f"a traced request of {prompt} prompt tokens is larger than any model's "
                                "context; the trace cannot be replayed", "replay a trace the runtime wrote")
        first = next((s.name for s in strings if s.type.get("type") == "string"), None)
        if first is not None:
            base[first] = _filler(want - tail)
        turns.append(Turn(round(float(r.get("ts") or 0) - t0, 3), plan.name, base))
    note = ("turn contents are synthesized (filler text of about the traced turn's token count): a trace "
            "records hashes and counts, not prompts")
    return render_requests(f"trace {Path(path).name}", plans, turns, {}, where=lambda i: f"{f}: request {i + 1}",
                           note=note)


__all__ = ["DAY", "Turn", "Workload", "WorkloadError", "day_turns", "from_trace", "load_workload", "parse_seconds",
           "render_requests", "working_day"]
