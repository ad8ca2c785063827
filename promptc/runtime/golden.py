"""Golden wire fixtures (``promptc test``): every plan rendered for every target into the exact provider
payload, compared with committed fixtures, so a change of promptc, a framework or an adapter that
changes the bytes fails CI with a diff; ``--update`` rewrites them; ``--junit`` writes JUnit XML.

The payload is :meth:`Client.build`'s (the one build path; nothing is sent, no key is needed). Each plan
is rendered with its inputs from ``--inputs`` (``{"plan": {"input": value}}``) and, for required inputs
not given there, a fixed sample value per type (the fixtures must be deterministic, so no clock, no
randomness). One fixture per (plan, target): ``<fixtures>/<plan>/<provider>__<model>.json`` holding
``{"target", "path", "marks", "payload"}`` as sorted, indented JSON.

The targets are the project's own by default: each plan's ``targets`` (its ``target`` list, else the
module's, else ``[tool.promptc] target``), exactly what ``promptc build`` compiled it for; ``--target``
(repeatable) renders every plan for the given targets instead. The runtime settings (cache minimums,
retention, provider options) are ``[tool.promptc]`` of the nearest ``pyproject.toml`` above the working
directory, as for :class:`~promptc.runtime.client.Client`.
"""

from __future__ import annotations

import difflib
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from xml.etree import ElementTree as ET

from promptc.core.inputs import sample_value
from promptc.plan import Plan


@dataclass(frozen=True)
class Outcome:
    """One (plan, target) check: ``status`` is ``ok``, ``changed``, ``missing``, ``stale`` or ``updated``."""

    plan: str
    target: str
    fixture: Path
    status: str
    diff: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("changed", "missing", "stale")


def _values(plan: Plan, stability: str, given: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for spec in plan.inputs:
        if spec.stability != stability:
            continue
        if spec.name in given:
            out[spec.name] = given[spec.name]
        elif not spec.has_default and not spec.type.get("optional"):
            out[spec.name] = sample_value(spec.type, spec.name)
    return out


def fixture_name(target: str) -> str:
    """``bedrock/anthropic.claude-…-v1:0`` → ``bedrock__anthropic.claude-…-v1_0.json`` (portable file names)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", target.replace("/", "__", 1)) + ".json"


def client_for(target: str, config: Any = None, api: str | None = None) -> Any:
    """The :class:`Client` whose build makes the fixtures (nothing is sent: no key needed)."""
    from promptc.runtime.client import Client

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unpriced model still has a payload
        return Client(target, api=api, api_key="unused", config=config)


def render_fixture(plan: Plan, client: Any, inputs: dict[str, Any]) -> str:
    """The fixture text of ``plan`` on ``client``'s target: the wire call it would send, as canonical JSON."""
    request = plan.bind(**_values(plan, "session", inputs)).render(**_values(plan, "turn", inputs))
    call = client.build(request, max_tokens=1024)
    body = {"target": client.target.name, "path": call.path,
            "marks": [{"segment": m.segment, "reason": m.reason, "long": m.long} for m in call.marks],
            "payload": call.payload}
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def plan_targets(plan: Plan, targets: list[str] | None) -> list[str]:
    """The targets ``plan`` is checked for: ``targets`` when given, else the plan's own (its build targets)."""
    return list(targets) if targets else [t.name for t in plan.targets]


def check(plans: dict[str, Plan], targets: list[str] | None, fixtures: Path, inputs: dict[str, dict[str, Any]],
          update: bool = False, config: Any = None) -> list[Outcome]:
    """Compare (or with ``update`` rewrite) the fixtures of every plan × target (``targets`` None: each
    plan's own targets); fixtures under ``fixtures`` that no plan × target produces are ``stale`` (deleted
    by ``update``)."""
    out: list[Outcome] = []
    expected: set[Path] = set()
    clients: dict[str, Any] = {}  # one per target, shared by the plans: each loads its tokenizer
    for name in sorted(plans):
        for target in plan_targets(plans[name], targets):
            if target not in clients:
                clients[target] = client_for(target, config)
            path = fixtures / name / fixture_name(target)
            expected.add(path)
            text = render_fixture(plans[name], clients[target], inputs.get(name, {}))
            old = path.read_text(encoding="utf-8") if path.is_file() else None
            if old == text:
                out.append(Outcome(name, target, path, "ok"))
            elif update:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                out.append(Outcome(name, target, path, "updated"))
            elif old is None:
                out.append(Outcome(name, target, path, "missing", f"{path}: no fixture (run with --update)"))
            else:
                diff = "".join(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                    f"{path} (committed)", f"{path} (built now)"))
                out.append(Outcome(name, target, path, "changed", diff))
    for path in sorted(fixtures.glob("*/*.json")) if fixtures.is_dir() else []:
        if path not in expected:
            if update:
                path.unlink()
                out.append(Outcome(path.parent.name, path.stem, path, "updated"))
            else:
                out.append(Outcome(path.parent.name, path.stem, path, "stale",
                                   f"{path}: no plan × target produces it (run with --update to delete it)"))
    return out


def junit_xml(outcomes: list[Outcome]) -> str:
    """JUnit XML: one testcase per fixture, a ``<failure>`` carrying the diff."""
    suite = ET.Element("testsuite", name="promptc.wire", tests=str(len(outcomes)),
                       failures=str(sum(o.failed for o in outcomes)), errors="0", skipped="0")
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"wire.{o.plan}", name=o.target, file=str(o.fixture))
        if o.failed:
            ET.SubElement(case, "failure", message=o.status, type=o.status).text = o.diff
    return ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode", xml_declaration=True) + "\n"


def golden_command(compile_sources: Callable[[Path], Any]) -> Any:
    """The ``promptc test`` command, compiling ``.prompt`` sources with ``compile_sources``."""
    import click

    @click.command("test")
    @click.argument("paths", nargs=-1, type=click.Path(exists=True))
    @click.option("--target", "targets", multiple=True,
                  help="provider/model to render every plan for (repeatable), e.g. anthropic/claude-sonnet-4-5 "
                       "[default: each plan's own targets]")
    @click.option("--fixtures", "fixtures", type=click.Path(file_okay=False), default="wire-fixtures",
                  show_default=True, help="Directory of the committed fixtures")
    @click.option("--inputs", "inputs_path", type=click.Path(exists=True, dir_okay=False), default=None,
                  help='JSON inputs per plan, {"plan": {"input": value}} [default: fixed sample values]')
    @click.option("--update", is_flag=True, help="Rewrite the fixtures (and delete stale ones) instead of failing")
    @click.option("--junit", "junit_path", type=click.Path(dir_okay=False), default=None,
                  help="Also write the results as JUnit XML to this file")
    def test(paths, targets, fixtures, inputs_path, update, junit_path):
        """Render every plan for every target into the exact provider payload and compare it with golden fixtures."""
        from promptc.runtime.plans import open_plans

        plans: dict[str, Plan] = {}
        for p in paths or (".",):
            names, built = open_plans(Path(p), compile_sources)
            for n in names:
                plans.setdefault(n, built[n])
        inputs: dict[str, dict[str, Any]] = {}
        if inputs_path:
            try:
                inputs = json.loads(Path(inputs_path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise click.UsageError(f"--inputs {inputs_path}: {exc}") from None
            if not isinstance(inputs, dict) or not all(isinstance(v, dict) for v in inputs.values()):
                raise click.UsageError(f'--inputs {inputs_path}: expected {{"plan": {{"input": value}}}}')
        outcomes = check(plans, list(targets) or None, Path(fixtures), inputs, update=update)
        for o in outcomes:
            click.echo(f"{o.status:8} {o.plan} {o.target}")
            if o.failed and o.diff:
                click.echo(o.diff.rstrip("\n"))
        if junit_path:
            Path(junit_path).parent.mkdir(parents=True, exist_ok=True)
            Path(junit_path).write_text(junit_xml(outcomes), encoding="utf-8")
        failed = sum(o.failed for o in outcomes)
        click.echo(f"{len(outcomes)} fixtures: {failed} failed" + (" (run with --update to accept)" if failed else ""))
        if failed:
            raise SystemExit(1)

    return test
