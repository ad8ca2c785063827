"""Which files a build read (or looked for): the inputs of the no-op check in :mod:`manifest`."""

from __future__ import annotations

import contextvars
from pathlib import Path

_READ: contextvars.ContextVar[set[Path] | None] = contextvars.ContextVar("promptc_build_deps", default=None)


def record(path: Path) -> None:
    """Note that the running build depends on ``path`` (whether it exists or not)."""
    deps = _READ.get()
    if deps is not None and "\x00" not in str(path):  # a NUL byte names no file (and breaks resolve())
        deps.add(Path(path).resolve())


class tracking:
    """``with tracking() as deps:`` collects every path recorded inside the block."""

    def __enter__(self) -> set[Path]:
        self.deps: set[Path] = set()
        self.token = _READ.set(self.deps)
        return self.deps

    def __exit__(self, *exc) -> None:
        _READ.reset(self.token)
