"""Every file promptc writes goes through here: no write or delete follows a symlink out of the project.

A pull request controls every file of the checkout CI builds, symlinks included: a committed
``promptc.lock``, ``.promptc/plans``, ``.promptc/cache/manifest.tmp`` or ``cache-report.html``
that is a link to ``~/.bashrc`` or to another directory would make a build or a report overwrite
or delete files outside the project. So before any write or delete:

* each component of the path that is a symlink *living inside* a trusted base (the project root,
  and the current directory) must resolve inside that same base, else :class:`UnsafeOutput`
  (E812) names the link. A link the user's system owns (``/tmp`` -> ``/private/tmp``) lives outside
  every base and is not judged; a link inside the project to another file of the project is fine;
* the file itself is replaced atomically: the bytes go to a fresh temporary file (created with
  ``O_EXCL``, so a planted ``*.tmp`` link is never followed) that is renamed over the target, so
  even a link created after the check is replaced, never written through.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from promptc.core.errors import Diagnostic, PromptcError


class UnsafeOutput(PromptcError):
    """E812: an output path is, or sits under, a symlink leading out of the project."""

    code = "E812"

    def __init__(self, path: Path, link: Path, target: str):
        self.path, self.link, self.target = path, link, target
        self.diagnostic = Diagnostic(
            "E812", f"refusing to write {path}: {link} is a symlink leading out of the project (to {target})", None,
            "remove the link, or write the output elsewhere (--out, --lock, --output)")
        super().__init__(self.diagnostic.render())


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def check_output_path(path: Path, root: Path | None = None) -> None:
    """Raise :class:`UnsafeOutput` when ``path`` is or sits under a symlink that lives inside the
    project ``root`` or the current directory and leads out of it."""
    bases = {os.path.realpath(b) for b in ((root,) if root is not None else ()) + (Path.cwd(),)}
    full = Path(os.path.abspath(path))  # lexical: each component is judged as the kernel meets it
    cur = Path(full.anchor)
    for part in full.parts[1:]:
        cur = cur / part
        if not os.path.islink(cur):
            continue
        home = os.path.realpath(cur.parent)
        target = os.path.realpath(cur)
        for base in bases:
            if _inside(home, base) and not _inside(target, base):
                raise UnsafeOutput(Path(path), cur, os.readlink(cur))


def write_bytes(path: Path, data: bytes, root: Path | None = None, *, mkdir: bool = True) -> None:
    """Write ``data`` to ``path`` after :func:`check_output_path`, atomically (temporary file +
    rename); ``OSError`` is the caller's to report."""
    path = Path(path)
    check_output_path(path, root)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
        check_output_path(path, root)  # mkdir follows links too: judge the directories it made
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text(path: Path, text: str, root: Path | None = None, *, mkdir: bool = True) -> None:
    """:func:`write_bytes` of ``text`` as UTF-8 (newlines as given)."""
    write_bytes(path, text.encode("utf-8"), root, mkdir=mkdir)


def append_text(path: Path, text: str, root: Path | None = None) -> None:
    """Append ``text`` (UTF-8) to ``path`` (``$GITHUB_STEP_SUMMARY``) after :func:`check_output_path`;
    the last component is opened without following a link."""
    path = Path(path)
    check_output_path(path, root)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    with os.fdopen(fd, "ab") as fh:
        fh.write(text.encode("utf-8"))


def unlink(path: Path, root: Path | None = None) -> None:
    """Delete ``path`` (a link is removed, never its target) after :func:`check_output_path` of
    its directory."""
    path = Path(path)
    check_output_path(path.parent, root)
    path.unlink()


__all__ = ["UnsafeOutput", "append_text", "check_output_path", "unlink", "write_bytes", "write_text"]
