"""Template file access for the compiler: ``std/...`` from the standard library, other names
relative to the including module's directory. Every file read is recorded for the no-op check and
goes through the build's :class:`~promptc.compiler.confine.FileGuard` (project root, stdlib and
allowed roots only; regular files only; bounded size)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from promptc.compiler import deps
from promptc.compiler.confine import FileGuard
from promptc.core.resources import stdlib_dir


class ProjectLoader(jinja2.BaseLoader):
    """Resolves ``std/...`` to the standard library and other names relative to ``base_dir``."""

    def __init__(self, base_dir: Path, guard: FileGuard | None = None):
        self.base_dir = base_dir
        self.guard = guard or FileGuard(base_dir)

    def resolve(self, name: str) -> Path | None:
        """The file a template name refers to, or None when nothing exists there (a directory,
        FIFO or device is returned: :meth:`read` refuses it with a coded error)."""
        if "\x00" in name:
            return None  # a NUL byte names no file
        if name.startswith("std/"):
            path = stdlib_dir() / name[4:]
        else:
            path = self.base_dir / name
        deps.record(path)
        return path if path.exists() else None

    def read(self, name: str) -> str:
        """The text of template ``name``; raises ``TemplateNotFound`` (or its subclass
        :class:`~promptc.compiler.confine.FileRefused` for a refused file)."""
        path = self.resolve(name)
        if path is None:
            raise jinja2.TemplateNotFound(name)
        try:
            return self.guard.read_text(path, name)
        except UnicodeDecodeError as exc:
            raise jinja2.TemplateSyntaxError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", 1, name) from None

    def get_source(self, environment, template):
        return self.read(template), None, lambda: True
