"""No-op rebuilds: skip compiling when no input of the last build changed (like make/ninja).

After a successful ``promptc build``, ``<root>/.promptc/cache/manifest.json`` records every file
the build read or looked for (sources, imports, includes, memory files, pyproject.toml, the
tokenizer's data file) with size, mtime and sha256; the set of .prompt files in the project; the
promptc code and version; the options; and the sha256 of every output. A later build with the same
options is a no-op when all of that still matches (a changed mtime with unchanged content still
matches); otherwise it compiles as usual. ``promptc build --check`` never takes this shortcut.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from promptc.core import safewrite
from promptc.core.version import __version__

VERSION = 1
_PACKAGE = Path(__file__).resolve().parents[1]


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except (OSError, ValueError):  # ValueError: a NUL byte in a path from a damaged manifest
        return None


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return [st.st_size, st.st_mtime_ns]


def code_fingerprint() -> str:
    """promptc's own code and data: a new version or an edited checkout invalidates every manifest."""
    h = hashlib.sha256(__version__.encode())
    from promptc.core.resources import grammar_path

    for p in sorted(_PACKAGE.rglob("*.py")) + [grammar_path()]:
        h.update(f"{p.relative_to(p.parents[1]) if p.is_relative_to(_PACKAGE) else p.name}:{_stat(p)}".encode())
    return h.hexdigest()


def _options(paths: list[str], out: Path, lock: Path, align: str | None, allow_roots=()) -> str:
    opts = {"paths": sorted(str(Path(p).resolve()) for p in paths), "out": str(out.resolve()),
            "lock": str(lock.resolve()), "align": align}
    if allow_roots:
        opts["allow_roots"] = sorted(str(Path(r).resolve()) for r in allow_roots)
    return json.dumps(opts, sort_keys=True)


def manifest_path(root: Path) -> Path:
    return root / ".promptc" / "cache" / "manifest.json"


def save(root: Path, paths: list[str], out: Path, lock: Path, align: str | None, deps: set[Path], prompt_files: list[Path],
         outputs: dict[Path, bytes], diagnostics_text: str, summary: str, diagnostics_json: list | None = None,
         allow_roots=()) -> None:
    data = {
        "version": VERSION, "code": code_fingerprint(), "options": _options(paths, out, lock, align, allow_roots),
        "prompt_files": [str(p) for p in prompt_files],
        "inputs": {str(p): {"stat": _stat(p), "sha256": _sha(p)} for p in sorted(deps)},
        "outputs": {str(p): {"stat": _stat(p), "sha256": hashlib.sha256(b).hexdigest()} for p, b in outputs.items()},
        "diagnostics": diagnostics_text, "diagnostics_json": diagnostics_json or [], "summary": summary,
    }
    path = manifest_path(root)
    try:
        safewrite.write_text(path, json.dumps(data), root)
    except OSError:
        pass  # no manifest only means no shortcut


def _well_formed(data: object) -> bool:
    """True when a parsed manifest has the shape :func:`save` writes (anything else is ignored)."""
    if not isinstance(data, dict):
        return False
    if not (isinstance(data.get("prompt_files"), list) and isinstance(data.get("diagnostics"), str)
            and isinstance(data.get("summary"), str) and isinstance(data.get("diagnostics_json"), list)):
        return False
    for group in ("inputs", "outputs"):
        recs = data.get(group)
        if not isinstance(recs, dict):
            return False
        for rec in recs.values():
            if not isinstance(rec, dict) or not (rec.get("sha256") is None or isinstance(rec.get("sha256"), str)):
                return False
            st = rec.get("stat")
            if not (st is None or (isinstance(st, list) and len(st) == 2 and all(type(x) is int for x in st))):
                return False
    return True


def _same(path: Path, rec: dict) -> bool:
    now = _stat(path)
    if now is None or rec["stat"] is None:
        return now is None and rec["stat"] is None
    return now == rec["stat"] or _sha(path) == rec["sha256"]


def fresh(paths: list[str], out: Path | None, lock: Path | None, align: str | None, allow_roots=()) -> dict | None:
    """The recorded manifest when nothing changed since the last build, else None."""
    from promptc.compiler.sources import find_sources

    root, files, diags = find_sources([Path(p) for p in paths])
    if diags:
        return None
    # Absolute paths throughout: the manifest records resolved outputs, and a relative --out must
    # compare equal to them (otherwise the shortcut never fires for `--out build/plans`).
    out = (out or root / ".promptc" / "plans").resolve()
    lock = (lock or root / "promptc.lock").resolve()
    try:
        data = json.loads(manifest_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, a directory, not UTF-8 or not JSON: build, then rewrite it
        return None
    if not _well_formed(data):
        return None  # valid JSON of the wrong shape: the same
    if (data.get("version") != VERSION or data.get("options") != _options(paths, out, lock, align, allow_roots)
            or data.get("prompt_files") != [str(p) for p in files] or data.get("code") != code_fingerprint()):
        return None
    for group in ("inputs", "outputs"):
        for p, rec in data[group].items():
            if not _same(Path(p), rec):
                return None
    if out.is_dir() and {str(p) for p in out.glob("*.plan.json")} - set(data["outputs"]):
        return None  # a stray plan file appeared: let a real build clean it up
    return data
