"""The template environment shared by compile time and run time.

Templates run in ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a template cannot
mutate its inputs, reach Python internals, or silently render a missing name as "". The compiler
(with a project loader) and the runtime (with the includes stored in the plan) build their
environments here, so a static segment's content is exactly what the plan stores.

Templates may come from untrusted pull requests, so evaluation is bounded (:class:`TemplateLimits`,
docs/security.md): nesting depth when parsing, work per render (loop iterations, calls and
operators), the size of any string or list a template builds and of its output, and the size of
integers. Exceeding a limit raises :class:`TemplateLimitError` (a coded ``PromptcError`` that is
also a Jinja ``SecurityError``), never a ``RecursionError``, ``MemoryError`` or a hang.
"""

from __future__ import annotations

import contextvars
import os
import operator
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promptc.core.errors import PromptcError

_MARKERS = ("{{", "{%", "{#")


@dataclass(frozen=True)
class TemplateLimits:
    """Bounds on template evaluation (``[tool.promptc]`` keys in parentheses).

    * ``max_nesting`` (``max_template_nesting``): brackets plus blocks open at once;
    * ``max_steps`` (``max_template_steps``): loop iterations, calls and operators per render;
    * ``max_output`` (``max_template_output``): characters of the output, and of any string or
      list a template builds on the way;
    * ``max_int_bits`` (``max_template_int_bits``): bits of an integer a template computes.
    """

    max_nesting: int = 32
    max_steps: int = 1_000_000
    max_output: int = 1_000_000
    max_int_bits: int = 4096


DEFAULT_LIMITS = TemplateLimits()

#: Hard ceilings: ``[tool.promptc]`` lives in the checkout a pull request controls, so no value
#: there lifts a limit past these (a 50M-step render is about a minute of CPU; a 50M-character
#: string a few hundred MB). Applied where an environment is made (:func:`effective_limits`).
CEILINGS = TemplateLimits(max_nesting=128, max_steps=50_000_000, max_output=50_000_000, max_int_bits=65_536)

#: Environment variables with which a CI job (not the pull request) lowers a limit further. A value
#: that is not a positive integer caps the limit at its default: a typo never lifts anything.
CAP_ENV = {"max_nesting": "PROMPTC_MAX_TEMPLATE_NESTING", "max_steps": "PROMPTC_MAX_TEMPLATE_STEPS",
           "max_output": "PROMPTC_MAX_TEMPLATE_OUTPUT", "max_int_bits": "PROMPTC_MAX_TEMPLATE_INT_BITS"}


def effective_limits(limits: TemplateLimits, environ: Mapping[str, str] | None = None) -> TemplateLimits:
    """``limits`` (from ``[tool.promptc]`` or a caller) clamped to :data:`CEILINGS` and to the caps
    in :data:`CAP_ENV` (read from ``environ``, default ``os.environ``)."""
    environ = os.environ if environ is None else environ
    values = {}
    for name, var in CAP_ENV.items():
        value = min(getattr(limits, name), getattr(CEILINGS, name))
        raw = environ.get(var)
        if raw is not None:
            try:
                cap = int(raw.strip())
            except ValueError:
                cap = 0
            value = min(value, cap if cap > 0 else getattr(DEFAULT_LIMITS, name))
        values[name] = value
    return TemplateLimits(**values)


class TemplateLimitError(SecurityError, PromptcError):
    """A template exceeded a :class:`TemplateLimits` bound; ``code`` says which (E806–E809)."""

    def __init__(self, code: str, message: str, hint: str):
        super().__init__(message)
        self.code = code
        self.hint = hint


class TemplateNestingError(jinja2.TemplateSyntaxError, PromptcError):
    """A template nests deeper than ``max_nesting`` (E806); a syntax error with a line number."""

    def __init__(self, message: str, lineno: int, name: str | None = None):
        super().__init__(message, lineno, name)
        self.code = "E806"
        self.hint = "flatten the expression or the blocks (use {% set %} for intermediate values)"


def _nesting(limit: int, line: int, recursion: bool = False) -> TemplateNestingError:
    if recursion:  # Python's own limits: deep nesting the lexer scan does not count, or an include cycle
        return TemplateNestingError("template nesting or include recursion is too deep", line)
    return TemplateNestingError(f"template nests deeper than {limit} levels (brackets and blocks)", line)


def _too_much_work(limits: TemplateLimits) -> TemplateLimitError:
    return TemplateLimitError("E808", f"template evaluation exceeded {limits.max_steps} steps (loop iterations, calls "
                                      "and operators)", "do less work in the template, or raise "
                                                        "`max_template_steps` in [tool.promptc]")


def _too_big(limits: TemplateLimits, what: str) -> TemplateLimitError:
    return TemplateLimitError("E807", f"template {what} exceeds {limits.max_output} characters",
                              "produce less text, or raise `max_template_output` in [tool.promptc]")


def _too_large_int(limits: TemplateLimits) -> TemplateLimitError:
    return TemplateLimitError("E809", f"template arithmetic produces an integer over {limits.max_int_bits} bits",
                              "use smaller numbers, or raise `max_template_int_bits` in [tool.promptc]")


class _Budget:
    """The work one render may still do."""

    def __init__(self, limits: TemplateLimits):
        self.limits = limits
        self.steps = 0

    def step(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.limits.max_steps:
            raise _too_much_work(self.limits)


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("promptc_template_budget", default=None)
_BLOCKS = {"for", "if", "macro", "call", "filter", "with", "block", "autoescape"}
_DIGITS = re.compile(r"\d+")


@dataclass
class FormatScan:
    """The width/precision specs of a ``%`` or ``str.format`` format string, whether any width is
    dynamic (``*``, or a nested ``{}`` in a format spec), and ``steps``: characters examined."""

    specs: list[str]
    dynamic: bool = False
    steps: int = 0


def scan_format(fmt: str) -> FormatScan:
    """Find the specs of ``fmt`` in one left-to-right pass.

    Hand-written rather than regular expressions: the patterns this replaces backtracked
    quadratically on hostile template strings (``{`` followed by 100k ``:`` took 41 s); here each
    character is examined a bounded number of times, which ``steps`` records for the tests."""
    out = FormatScan([])
    n, i = len(fmt), 0
    flags, digits = "-#0 +", "0123456789"
    percent = True  # False after an unclosed "%(": Python's % refuses the string; "{...}" still counts
    while i < n:
        out.steps += 1
        c = fmt[i]
        if c == "%" and percent:  # printf-style: %[(key)][flags][width|*][.precision|*]
            j = i + 1
            if j < n and fmt[j] == "%":
                i = j + 1
                continue
            if j < n and fmt[j] == "(":  # the key ends at its matching parenthesis, as Python parses it
                depth, j = 1, j + 1
                while j < n and depth:
                    out.steps += 1
                    depth += {"(": 1, ")": -1}.get(fmt[j], 0)
                    j += 1
                if depth:
                    percent = False
                    i += 1
                    continue
            start = j
            while j < n and fmt[j] in flags:
                out.steps += 1
                j += 1
            if j < n and fmt[j] == "*":
                out.dynamic = True
            while j < n and (fmt[j] in digits or fmt[j] in ".*"):
                out.steps += 1
                out.dynamic |= fmt[j] == "*"
                j += 1
            out.specs.append(fmt[start:j])
            i = max(j, i + 1)
        elif c == "{":  # str.format: {field[:spec]}; "{{" is a literal brace
            if i + 1 < n and fmt[i + 1] == "{":
                i += 2
                continue
            j, colon = i + 1, -1
            while j < n and fmt[j] not in "{}":
                out.steps += 1
                if fmt[j] == ":" and colon < 0:
                    colon = j
                j += 1
            if colon >= 0:
                if j < n and fmt[j] == "{":
                    out.dynamic = True  # a nested replacement field inside the spec
                out.specs.append(fmt[colon + 1:j])
            i = j if j > i + 1 else i + 1
        else:
            i += 1
    return out


class _CodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` through :meth:`LimitedEnvironment.promptc_concat` so it is size-checked."""

    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        self.write("environment.promptc_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with :class:`TemplateLimits` enforced at parse, compile and render time."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%", "//", "/"})

    def __init__(self, *args, limits: TemplateLimits = DEFAULT_LIMITS, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits = effective_limits(limits)
        self.globals.pop("lipsum", None)  # random text: keep the surface small and deterministic
        self.globals["range"] = self._range
        for name in ("center", "indent", "format", "replace", "join", "slice", "wordwrap", "truncate"):
            self.filters[name] = self._guard_filter(name, self.filters[name])

    def _range(self, *args: Any) -> range:
        """``range`` bounded by the step budget: a range longer than ``max_steps`` is too much work
        (E808), however large its bounds (the sandbox's own check overflows on huge ints)."""
        self._budget().step()
        rng = range(*args)
        try:
            n = len(rng)
        except OverflowError:
            n = self.limits.max_steps + 1
        if n > self.limits.max_steps:
            raise _too_much_work(self.limits)
        return rng

    # -- budget ---------------------------------------------------------------------------------
    def _budget(self) -> _Budget:
        b = _BUDGET.get()
        if b is None or b.limits is not self.limits:
            b = _Budget(self.limits)  # rendered outside render_template: bound each operation alone
        return b

    def _check_size(self, value: Any, what: str = "value") -> Any:
        if isinstance(value, (str, list, tuple)) and len(value) > self.limits.max_output:
            raise _too_big(self.limits, what)
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > self.limits.max_int_bits:
            raise _too_large_int(self.limits)
        return value

    def _check_format(self, fmt: str) -> None:
        """Refuse ``%``/``str.format`` widths or precisions over ``max_output`` (and ``*`` widths)."""
        scan = scan_format(fmt)
        if scan.dynamic:
            raise _too_big(self.limits, "format width")
        for spec in scan.specs:
            if any(len(d) > 18 or int(d) > self.limits.max_output for d in _DIGITS.findall(spec)):
                raise _too_big(self.limits, "format width")

    # -- parsing and compiling ------------------------------------------------------------------
    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        self._check_nesting(source, name, filename)
        try:
            return super()._parse(source, name, filename)
        except RecursionError:
            raise _nesting(self.limits.max_nesting, 1, recursion=True) from None

    def _check_nesting(self, source: str, name: str | None, filename: str | None) -> None:
        depth = blocks = 0
        after_block_begin = False
        for lineno, token, value in self._tokenize_raw(source, name, filename):
            if token == "operator" and value in ("(", "[", "{"):
                depth += 1
            elif token == "operator" and value in (")", "]", "}"):
                depth = max(0, depth - 1)
            elif token == "name" and after_block_begin:
                if value in _BLOCKS:
                    blocks += 1
                elif value.startswith("end") and value[3:] in _BLOCKS:
                    blocks = max(0, blocks - 1)
            if token != "whitespace":
                after_block_begin = token == "block_begin"
            if depth + blocks > self.limits.max_nesting:
                raise _nesting(self.limits.max_nesting, lineno)

    def _tokenize_raw(self, source: str, name, filename) -> Iterable[tuple[int, str, str]]:
        return self.lexer.tokeniter(source, name, filename)

    def _generate(self, source: nodes.Template, name, filename, defer_init: bool = False) -> str:
        for loop in source.find_all(nodes.For):
            it = loop.iter
            if not (isinstance(it, nodes.Call) and isinstance(it.node, nodes.EnvironmentAttribute)
                    and it.node.name == "promptc_loop"):
                loop.iter = nodes.Call(nodes.EnvironmentAttribute("promptc_loop"), [it], [], None, None,
                                       lineno=it.lineno)
        try:
            return super()._generate(source, name, filename, defer_init=defer_init)
        except RecursionError:
            raise _nesting(self.limits.max_nesting, 1, recursion=True) from None

    def _compile(self, source: str, filename: str):
        try:
            return super()._compile(source, filename)
        except (RecursionError, MemoryError, SyntaxError):  # Python's own nesting limits
            raise _nesting(self.limits.max_nesting, 1, recursion=True) from None

    # -- evaluation hooks -------------------------------------------------------------------------
    def promptc_loop(self, iterable: Any) -> Iterable:
        """Every loop iterates through here: each iteration is one step."""
        budget = self._budget()
        for item in iterable:
            budget.step()
            yield item

    def promptc_concat(self, parts: tuple) -> str:
        """``a ~ b ~ ...`` with the result's size checked before it is built."""
        self._budget().step()
        strs = [str(p) for p in parts]
        if sum(len(s) for s in strs) > self.limits.max_output:
            raise _too_big(self.limits, "string")
        return "".join(strs)

    def call_binop(self, context, op: str, left: Any, right: Any) -> Any:
        self._budget().step()
        lim = self.limits
        num = (int, float)
        if op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if (abs(left).bit_length() - 1) * right > lim.max_int_bits:
                raise _too_large_int(lim)
        elif op == "*":
            seq, n = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * max(n, 0) > lim.max_output:
                raise _too_big(lim, "string or list")
            if isinstance(left, int) and isinstance(right, int) and \
                    left.bit_length() + right.bit_length() > lim.max_int_bits + 1:
                raise _too_large_int(lim)
        elif op == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            if len(left) + len(right) > lim.max_output:
                raise _too_big(lim, "string or list")
        elif op == "%" and isinstance(left, str):
            self._check_format(left)
        elif op == "**" and isinstance(left, num) and isinstance(right, num):
            pass  # float powers overflow to OverflowError, not to a hang
        return self._check_size(super().call_binop(context, op, left, right))

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (jinja's signature)
        __self._budget().step()
        name = getattr(__obj, "__name__", "")
        target = getattr(__obj, "__self__", None)
        if isinstance(target, str):
            lim = __self.limits
            if name in ("ljust", "rjust", "center", "zfill") and args and isinstance(args[0], int):
                if args[0] > lim.max_output:
                    raise _too_big(lim, "string")
            elif name == "expandtabs":
                size = args[0] if args else kwargs.get("tabsize", 8)
                if isinstance(size, int) and size * max(1, target.count("\t")) + len(target) > lim.max_output:
                    raise _too_big(lim, "string")
            elif name == "replace" and len(args) >= 2:
                __self._check_replace(target, *args[:2])
            elif name == "join" and args:
                items = list(__self.promptc_loop(args[0]))
                __self._check_join(target, items)
                args = (items, *args[1:])
        return __self._check_size(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any):
        """``str.format``/``format_map`` are wrapped at attribute access: check the widths there."""
        if callable(value) and getattr(value, "__name__", "") in ("format", "format_map") and \
                isinstance(getattr(value, "__self__", None), str):
            self._check_format(value.__self__)
        return super().wrap_str_format(value)

    def _check_replace(self, s: Any, old: Any, new: Any) -> None:
        if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
            hits = len(s) + 1 if old == "" else s.count(old)
            if len(s) + hits * max(0, len(new) - len(old)) > self.limits.max_output:
                raise _too_big(self.limits, "string")

    def _check_join(self, sep: Any, items: list) -> None:
        if isinstance(sep, str) and len(sep) * max(0, len(items) - 1) > self.limits.max_output:
            raise _too_big(self.limits, "string")

    def _guard_filter(self, name: str, fn):
        env = self

        def guarded(*args, **kwargs):
            env._budget().step()
            lim = env.limits
            rest = [a for a in args if not isinstance(a, (jinja2.runtime.Context, jinja2.nodes.EvalContext))
                    and not isinstance(a, jinja2.Environment)]
            value, params = (rest[0] if rest else None), rest[1:]
            if name in ("center", "indent") and params and isinstance(params[0], int) and params[0] > lim.max_output:
                raise _too_big(lim, "string")
            if name == "indent" and params and isinstance(params[0], str) and isinstance(value, str) and \
                    len(params[0]) * (value.count("\n") + 1) + len(value) > lim.max_output:
                raise _too_big(lim, "string")
            if name == "format" and isinstance(value, str):
                env._check_format(value)
            if name == "replace" and len(params) >= 2:
                env._check_replace(value, params[0], params[1])
            if name == "join" and value is not None and not isinstance(value, str):
                items = list(env.promptc_loop(value))
                sep = params[0] if params else kwargs.get("d", "")
                env._check_join(sep, items)
                args = tuple(items if a is value else a for a in args)
            if name == "slice" and params and isinstance(params[0], int) and params[0] > lim.max_steps:
                raise _too_much_work(lim)
            return env._check_size(fn(*args, **kwargs))

        for attr in ("jinja_pass_arg",):
            if hasattr(fn, attr):
                setattr(guarded, attr, getattr(fn, attr))
        guarded.__name__ = getattr(fn, "__name__", name)
        guarded.__doc__ = fn.__doc__
        return guarded


def template_line(exc: BaseException) -> int | None:
    """The template line an exception raised during rendering points at (Jinja rewrites the
    traceback so that template frames carry template line numbers), or None."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def make_environment(loader: jinja2.BaseLoader, limits: TemplateLimits = DEFAULT_LIMITS) -> LimitedEnvironment:
    """A sandboxed, strict, bounded environment over ``loader`` (the one configuration promptc renders with)."""
    return LimitedEnvironment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False,
                              keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False,
                              auto_reload=False, cache_size=0, limits=limits)


def is_literal(source: str) -> bool:
    """True when a template has no Jinja syntax at all: its output is its source."""
    return not any(m in source for m in _MARKERS)


def render_template(env: jinja2.Environment, source: str, values: Mapping) -> str:
    """Render ``source`` with ``values`` (a literal template is returned as is, without parsing).

    In a :class:`LimitedEnvironment` the render runs under one budget of ``max_steps`` and its
    output is cut off at ``max_output`` characters with :class:`TemplateLimitError`; include cycles
    and other runaway recursion end in a coded error too.
    """
    if is_literal(source):
        return source
    limits: TemplateLimits = getattr(env, "limits", DEFAULT_LIMITS)
    token = _BUDGET.set(_Budget(limits))
    try:
        template = env.from_string(source)
        out: list[str] = []
        size = 0
        for chunk in template.generate(**values):
            size += len(chunk)
            if size > limits.max_output:
                raise _too_big(limits, "output")
            out.append(chunk)
        return "".join(out)
    except RecursionError:
        raise TemplateLimitError("E806", "template recursion is too deep (an include cycle, or nesting)",
                                 "remove the include cycle or flatten the template") from None
    except MemoryError:
        raise _too_big(limits, "output") from None
    except OverflowError as exc:
        raise TemplateLimitError("E809", f"template arithmetic overflows: {exc}", "use smaller numbers") from None
    finally:
        _BUDGET.reset(token)


def runtime_environment(includes: Mapping[str, str], limits: TemplateLimits = DEFAULT_LIMITS) -> LimitedEnvironment:
    """The environment used at bind time: same settings, includes served from the plan itself
    (a name that is not in ``includes``, e.g. one computed from an input, is not found)."""
    return make_environment(jinja2.DictLoader(dict(includes)), limits)


__all__ = ["DEFAULT_LIMITS", "LimitedEnvironment", "TemplateLimitError", "TemplateLimits", "TemplateNestingError",
           "is_literal", "make_environment", "render_template", "runtime_environment", "template_line"]
