"""File confinement for the compiler: every file a build reads comes from an allowed root.

A ``.prompt`` file may come from an untrusted pull request, so what it can make the compiler read
is bounded (docs/security.md): ``import``, ``{% include %}`` (and ``import``/``extends``/``from``
in templates) and ``memory from`` resolve, after following symlinks, inside the project root, the
bundled standard library, or a root the project explicitly allows (``[tool.promptc] allow_roots``
or ``promptc build --allow-root``). Only regular files are read (no directories, devices, FIFOs or
sockets), and no file larger than ``max_file_bytes``. A refused file is never read, so no
diagnostic can show its content.
"""

from __future__ import annotations

import contextvars
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import jinja2

from promptc.core.errors import Diagnostic, PromptcError, Span
from promptc.core.resources import stdlib_dir
from promptc.compiler.sources import project_root  # noqa: F401  (re-exported; lives there to keep jinja2 off the no-op build)

#: Default bound on the size of any file a build reads (sources, includes, memory files).
DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024

_OVERLAYS: contextvars.ContextVar[Mapping[Path, str] | None] = contextvars.ContextVar("promptc_overlays",
                                                                                      default=None)


class overlay:
    """``with overlay({real_path: text}):`` builds inside the block read ``text`` instead of the file's
    bytes on disk (an editor's unsaved buffer, for ``promptc lsp``). Only files that pass the guard's
    checks are substituted: the overlay never widens what a build may read."""

    def __init__(self, texts: Mapping[Path, str]):
        self.texts = {Path(os.path.realpath(p)): t for p, t in texts.items()}

    def __enter__(self) -> None:
        self.token = _OVERLAYS.set(self.texts)

    def __exit__(self, *exc) -> None:
        _OVERLAYS.reset(self.token)


class FileRefused(jinja2.TemplateNotFound, PromptcError):
    """A file the build may not read: outside every allowed root (E801), not a regular file
    (E802) or too large (E803). The message names the path, never the file's content."""

    def __init__(self, code: str, name: str, message: str, hint: str):
        jinja2.TemplateNotFound.__init__(self, name, message)
        self.code = code
        self.reason = message
        self.hint = hint

    def diagnostic(self, span: Span | None) -> Diagnostic:
        """This refusal as a diagnostic at ``span`` (the import, include or ``memory from`` site)."""
        return Diagnostic(self.code, self.reason, span, self.hint)


@dataclass(frozen=True)
class FileGuard:
    """The roots a build may read from and the largest file it reads."""

    root: Path
    extra_roots: tuple[Path, ...] = ()
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    @property
    def roots(self) -> tuple[Path, ...]:
        return (self.root.resolve(), stdlib_dir().resolve(), *(r.resolve() for r in self.extra_roots))

    def check(self, path: Path, name: str | None = None) -> Path:
        """The real path of ``path`` when the build may read it; raises :class:`FileRefused`
        (``FileNotFoundError`` when nothing is there: callers report their own "not found")."""
        shown = name if name is not None else str(path)
        if "\x00" in str(path):
            raise FileNotFoundError(f"no file can be named {shown!r}")  # a NUL byte names no file
        real = Path(os.path.realpath(path))
        if not any(real == r or real.is_relative_to(r) for r in self.roots):
            raise FileRefused("E801", shown, f"`{shown}` is outside the project root",
                              "promptc reads only files under the project root and the standard library; to allow "
                              "another directory add it to `[tool.promptc] allow_roots` in pyproject.toml or pass "
                              "`promptc build --allow-root DIR`")
        try:
            st = os.stat(real)
        except FileNotFoundError:
            raise  # a missing file is the caller's "not found" diagnostic
        except OSError:
            raise FileRefused("E802", shown, f"`{shown}` cannot be read", "check the path and its permissions") from None
        self._check_stat(st, shown)
        return real

    def _check_stat(self, st: os.stat_result, shown: str) -> None:
        if stat.S_ISDIR(st.st_mode):
            raise FileRefused("E802", shown, f"`{shown}` is a directory, not a file", "name a file")
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused("E802", shown, f"`{shown}` is not a regular file (a device, FIFO or socket)",
                              "promptc reads only regular files")
        if st.st_size > self.max_file_bytes:
            raise FileRefused("E803", shown, f"`{shown}` is {st.st_size} bytes, over the limit of "
                                             f"{self.max_file_bytes} bytes",
                              "split the file, or raise `[tool.promptc] max_file_bytes` in pyproject.toml")

    def read_bytes(self, path: Path, name: str | None = None) -> bytes:
        """The bytes of ``path`` after :meth:`check`; the file is opened without blocking and
        re-checked on the open descriptor, so a swapped-in FIFO or device is refused too."""
        shown = name if name is not None else str(path)
        real = self.check(path, name)
        texts = _OVERLAYS.get()
        if texts is not None and real in texts:
            data = texts[real].encode("utf-8")
            if len(data) > self.max_file_bytes:
                raise FileRefused("E803", shown, f"`{shown}` is over the limit of {self.max_file_bytes} bytes",
                                  "split the file, or raise `[tool.promptc] max_file_bytes` in pyproject.toml")
            return data
        try:
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise
        except OSError:
            raise FileRefused("E802", shown, f"`{shown}` cannot be read", "check the path and its permissions") from None
        try:
            self._check_stat(os.fstat(fd), shown)
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(self.max_file_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > self.max_file_bytes:
            raise FileRefused("E803", shown, f"`{shown}` is over the limit of {self.max_file_bytes} bytes",
                              "split the file, or raise `[tool.promptc] max_file_bytes` in pyproject.toml")
        return data

    def read_text(self, path: Path, name: str | None = None) -> str:
        """:meth:`read_bytes` decoded as UTF-8 with universal newlines, as ``Path.read_text`` reads:
        a CRLF checkout compiles to the same bytes as an LF one (``UnicodeDecodeError`` is the
        caller's to report)."""
        text = self.read_bytes(path, name).decode("utf-8")
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
