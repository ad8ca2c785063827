"""Load .prompt files, follow imports, and build each module's scope.

``import "./x.prompt"`` merges x's own segments and file-level inputs into the importing scope (a
collision is an error); ``import "./x.prompt" as ns`` reaches them only as ``ns.NAME``, so names
never collide. ``std/...`` imports come from the bundled standard library.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from promptc.compiler import deps
from promptc.compiler.config import ProjectConfig, load_config
from promptc.compiler.confine import FileGuard, FileRefused, project_root
from promptc.compiler.sources import find_sources
from promptc.core.errors import Diagnostic, Span
from promptc.core.resources import stdlib_dir
from promptc.syntax import ast
from promptc.syntax.parser import parse_source


@dataclass
class ModuleInfo:
    """A parsed module with its resolved scope."""

    file: Path
    display: str
    module: ast.Module
    own_segments: dict[str, ast.Segment] = field(default_factory=dict)
    own_inputs: dict[str, ast.InputDecl] = field(default_factory=dict)
    #: file-level inputs usable in this module: its own and those of unaliased imports, with their module
    input_scope: dict[str, tuple[ast.InputDecl, "ModuleInfo"]] = field(default_factory=dict)
    scope: dict[str, tuple[ast.Segment, "ModuleInfo"]] = field(default_factory=dict)
    namespaces: dict[str, "ModuleInfo"] = field(default_factory=dict)
    #: Imports that failed (each reported at the import): ``(alias, names)`` where ``names`` are the
    #: segments the file would have brought as far as a scan of it shows, or None when unknowable (the
    #: file is missing). Reporting each such name again would only repeat the import's error.
    failed_imports: list[tuple[str | None, frozenset[str] | None]] = field(default_factory=list)

    def may_lack(self, ref: ast.Ref) -> bool:
        """True when ``ref`` may be missing only because an import failed."""
        if len(ref.parts) > 1:
            return any(alias == ref.parts[0] for alias, _ in self.failed_imports)
        return any(alias is None and (names is None or ref.parts[0] in names) for alias, names in self.failed_imports)

    @property
    def base_dir(self) -> Path:
        return self.file.parent


@dataclass
class Project:
    root: Path
    entries: list[Path]
    modules: dict[Path, ModuleInfo]
    diagnostics: list[Diagnostic]
    config: ProjectConfig = field(default_factory=ProjectConfig)
    guard: FileGuard | None = None  #: what the build may read (docs/security.md)
    #: display path → source text of every file read, for the excerpts under diagnostics.
    sources: dict[str, str] = field(default_factory=dict)

    def declaring(self, name: str, exclude: ModuleInfo | None = None) -> list[ModuleInfo]:
        """The modules (other than ``exclude``) that declare a segment named ``name``."""
        return sorted((m for m in self.modules.values() if m is not exclude and name in m.own_segments),
                      key=lambda m: m.display)


def std_modules() -> list[str]:
    base = stdlib_dir()
    return sorted("std/" + p.relative_to(base).with_suffix("").as_posix() for p in base.rglob("*.prompt"))


def _display(path: Path, root: Path) -> str:
    std = stdlib_dir().resolve()
    try:
        return "std/" + path.relative_to(std).as_posix()
    except ValueError:
        pass
    return Path(os.path.relpath(path, root)).as_posix()


def load_project(paths: list[Path], allow_roots: tuple[Path, ...] = ()) -> Project:
    """Parse the sources under ``paths`` and everything they import. Files are read through a
    :class:`FileGuard` rooted at :func:`project_root`, with the configured ``allow_roots`` plus
    ``allow_roots`` given here (``promptc build --allow-root``)."""
    root, entries, diags = find_sources(paths)
    if not entries and not diags:
        diags.append(Diagnostic("E128", f"no .prompt files under {paths[0] if paths else '.'}", None,
                                "a project is a directory of .prompt files"))
    config = load_config(root)
    diags.extend(config.diagnostics)
    guard = FileGuard(project_root(root), tuple(config.allow_roots) + tuple(Path(r).resolve() for r in allow_roots),
                      config.max_file_bytes)
    modules: dict[Path, ModuleInfo] = {}
    loader = _Loader(root, modules, diags, guard, config.max_import_depth)
    for f in entries:
        loader.load(f, [])
    for info in modules.values():
        loader.build_scope(info)
    return Project(root, entries, modules, diags, config, guard, loader.sources)


class _Loader:
    def __init__(self, root: Path, modules: dict[Path, ModuleInfo], diags: list[Diagnostic], guard: FileGuard,
                 max_depth: int):
        self.root = root
        self.modules = modules
        self.diags = diags
        self.guard = guard
        self.max_depth = max_depth
        self.failed: set[Path] = set()
        self.sources: dict[str, str] = {}
        #: segment names a file that failed to parse appears to declare (see :func:`_declared_names`).
        self.failed_names: dict[Path, frozenset[str]] = {}
        self.done: set[Path] = set()

    def load(self, file: Path, stack: list[Path], site: ast.Import | None = None) -> ModuleInfo | None:
        if file in self.modules:
            return self.modules[file]
        if file in self.failed:
            return None
        display = _display(file, self.root)
        deps.record(file)
        try:
            text = self.guard.read_text(file, site.path if site else display)
        except FileRefused as exc:  # never read, so never shown
            self.failed.add(file)
            self.diags.append(exc.diagnostic(site.span if site else Span(display, 1, 1)))
            return None
        except UnicodeDecodeError as exc:
            self.failed.add(file)
            self.diags.append(Diagnostic("E005", f"{display} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                                         Span(display, 1, 1), "save the file as UTF-8"))
            return None
        self.sources[display] = text.removeprefix("\ufeff")
        module, diags = parse_source(text, display)
        self.diags.extend(diags)
        if module is None:
            self.failed.add(file)
            self.failed_names[file] = _declared_names(text)
            return None
        info = ModuleInfo(file, display, module)
        self.modules[file] = info
        for seg in module.segments:
            if seg.name in info.own_segments:
                first = info.own_segments[seg.name]
                self.diags.append(Diagnostic("E101", f"segment `{seg.name}` is declared twice", seg.name_span,
                                             "rename one of them", notes=(f"first declared at {first.name_span}",)))
            else:
                info.own_segments[seg.name] = seg
        for inp in module.inputs:
            if inp.name in info.own_inputs:
                self.diags.append(Diagnostic("E116", f"input `{inp.name}` is declared twice", inp.span,
                                             "rename one of them"))
            else:
                info.own_inputs[inp.name] = inp
        for imp in module.imports:
            target = self.resolve_import(info, imp)
            if target is None:
                info.failed_imports.append((imp.alias, None))
                continue
            if target in stack or target == file:
                cycle = [_display(p, self.root) for p in stack[stack.index(target):]] if target in stack else []
                chain = " → ".join(cycle + [display, _display(target, self.root)])
                self.diags.append(Diagnostic("E106", f"import cycle: {chain}", imp.span,
                                             "move the shared segments into a module both can import"))
                if imp.alias:  # unaliased names still merge (the module is loaded); a namespace is not bound
                    info.failed_imports.append((imp.alias, None))
                continue
            if len(stack) + 1 >= self.max_depth:
                self.diags.append(Diagnostic("E805", f"import chain is deeper than {self.max_depth} files", imp.span,
                                             "import shared modules directly instead of through long chains, or "
                                             "raise `[tool.promptc] max_import_depth` in pyproject.toml"))
                continue
            child = self.load(target, stack + [file], imp)
            if child is None:
                info.failed_imports.append((imp.alias, self.failed_names.get(target)))
                continue
            if imp.alias:
                if imp.alias in info.namespaces:
                    self.diags.append(Diagnostic("E120", f"namespace `{imp.alias}` is used by two imports", imp.span,
                                                 "give each import its own `as` name"))
                    info.failed_imports.append((imp.alias, None))  # `alias.x` may have meant either module
                info.namespaces[imp.alias] = child
        return info

    def resolve_import(self, info: ModuleInfo, imp: ast.Import) -> Path | None:
        """The imported file, or None with an E104/E105 diagnostic."""
        path = import_path(info, imp.path)
        if path is not None:
            return path
        name = imp.path
        if name.startswith("std/"):
            known = std_modules()
            close = difflib.get_close_matches(name.removesuffix(".prompt"), known, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"std modules: {', '.join(known)}"
            self.diags.append(Diagnostic("E105", f"unknown std module `{name}`", imp.span, hint))
        else:
            self.diags.append(Diagnostic("E104", f"imported file not found: `{name}`", imp.span,
                                         f"paths are relative to {info.display}'s directory"))
        return None

    def build_scope(self, info: ModuleInfo) -> None:
        for name, seg in info.own_segments.items():
            info.scope[name] = (seg, info)
        for name, decl in info.own_inputs.items():
            info.input_scope[name] = (decl, info)
        for imp in info.module.imports:
            if imp.alias:
                continue
            target = import_path(info, imp.path)
            child = self.modules.get(target) if target else None
            if child is None or child is info:
                continue
            for name, seg in child.own_segments.items():
                if name in info.scope and info.scope[name][0] is not seg:
                    other = info.scope[name][1].display
                    self.diags.append(Diagnostic(
                        "E121", f"`{name}` from {child.display} collides with `{name}` from {other}", imp.span,
                        f'import it under a namespace: import "{imp.path}" as {Path(imp.path).stem.replace("-", "_")}'))
                else:
                    info.scope[name] = (seg, child)
            for name, decl in child.own_inputs.items():
                if name in info.input_scope and info.input_scope[name][0] is not decl:
                    other = info.input_scope[name][1].display
                    self.diags.append(Diagnostic(
                        "E121", f"input `{name}` from {child.display} collides with input `{name}` from {other}",
                        imp.span, "rename one of them, or import the file under a namespace: "
                        f'import "{imp.path}" as {Path(imp.path).stem.replace("-", "_")}'))
                else:
                    info.input_scope[name] = (decl, child)



_DECLARATION = re.compile(r"^[ \t]*(?:global|agent|task)[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.M)


def _declared_names(text: str) -> frozenset[str]:
    """Segment names a file that does not parse appears to declare (a line-start scan, good enough to
    tell which unknown names are consequences of its syntax error)."""
    return frozenset(_DECLARATION.findall(text))


def import_path(info: ModuleInfo, name: str) -> Path | None:
    """Where ``import "name"`` points from ``info``: ``std/x`` → stdlib/x.prompt, else relative to the
    importing file (``.prompt`` may be omitted). Every candidate is a build dependency."""
    if "\x00" in name:
        return None  # a NUL byte names no file
    if name.startswith("std/"):
        rel = name[4:]
        candidates = [stdlib_dir() / (rel if rel.endswith(".prompt") else rel + ".prompt")]
    else:
        candidates = [info.base_dir / name] + ([] if name.endswith(".prompt") else [info.base_dir / (name + ".prompt")])
    for path in candidates:
        deps.record(path)
        if path.is_file():
            return path.resolve()
    for path in candidates:  # a directory, FIFO or device: the loader refuses it with E802
        if path.exists():
            return path.resolve()
    return None


def lookup(info: ModuleInfo, ref: ast.Ref) -> tuple[ast.Segment, ModuleInfo] | None:
    if len(ref.parts) == 1:
        return info.scope.get(ref.parts[0])
    if len(ref.parts) == 2 and ref.parts[0] in info.namespaces:
        ns = info.namespaces[ref.parts[0]]
        seg = ns.own_segments.get(ref.parts[1])
        return (seg, ns) if seg else None
    return None


def suggestions(info: ModuleInfo, ref: ast.Ref) -> list[str]:
    names = list(info.scope) + [f"{a}.{n}" for a, ns in info.namespaces.items() for n in ns.own_segments]
    return difflib.get_close_matches(ref.dotted, names, n=1)


def unknown_segment_hint(project: Project, info: ModuleInfo, ref: ast.Ref) -> str:
    """E103's hint: a segment of that name in another project file (with the import that brings it),
    else the closest name in scope."""
    if len(ref.parts) == 1:
        elsewhere = project.declaring(ref.parts[0], exclude=info)
        if elsewhere:
            other = elsewhere[0]
            rel = os.path.relpath(other.file, info.base_dir).replace(os.sep, "/")
            spec = other.display if other.display.startswith("std/") else (rel if rel.startswith(".") else "./" + rel)
            return f'`{ref.parts[0]}` is declared in {other.display}: add `import "{spec.removesuffix(".prompt")}"`'
    close = suggestions(info, ref)
    return f"did you mean `{close[0]}`?" if close else "declare it, or import the file that declares it"
