"""Template file access for the compiler: ``std/...`` from the standard library, other names
relative to the including module's directory. Every file read is recorded for the no-op check."""

from __future__ import annotations

from pathlib import Path

import jinja2

from promptc.compiler import deps
from promptc.core.resources import stdlib_dir


class ProjectLoader(jinja2.BaseLoader):
    """Resolves ``std/...`` to the standard library and other names relative to ``base_dir``."""

    def __init__(self, base_dir: Path):
        self.base_dir = base_dir

    def resolve(self, name: str) -> Path | None:
        """The file a template name refers to, or None when there is none."""
        if name.startswith("std/"):
            path = stdlib_dir() / name[4:]
        else:
            path = self.base_dir / name
        deps.record(path)
        return path if path.is_file() else None

    def get_source(self, environment, template):
        path = self.resolve(template)
        if path is None:
            raise jinja2.TemplateNotFound(template)
        text = path.read_text(encoding="utf-8")
        return text, str(path), lambda: True
