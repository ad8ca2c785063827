"""``promptc init [DIR]``: a starter project that builds, checks and lints clean.

It writes shared rules (static), append-only tools, one agent with an append-only memory file, a turn
task, ``pyproject.toml`` with ``[tool.promptc]``, a ``.gitignore`` for ``.promptc/``, a pre-commit config
and a GitHub workflow using the promptc Action. It never overwrites a file (E970, checked for every file
before anything is written) and never writes through a symlink leading out of DIR (E812).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from string import Template

from promptc.core import safewrite
from promptc.core.errors import PromptcError

STARTER = Path(__file__).resolve().parent / "starter"
#: file written (relative to DIR) → template under starter/ (``.tmpl`` so no tool mistakes them for a project)
FILES = {
    "shared.prompt": "shared.prompt.tmpl",
    "assistant.prompt": "assistant.prompt.tmpl",
    "memory/assistant.md": "memory/assistant.md.tmpl",
    "pyproject.toml": "pyproject.toml.tmpl",
    ".gitignore": "gitignore.tmpl",
    ".pre-commit-config.yaml": "pre-commit-config.yaml.tmpl",
    ".github/workflows/promptc.yml": "workflow.yml.tmpl",
}
#: The Action reference written into the workflow unless ``--action`` names one (docs/lint.md).
ACTION_PLACEHOLDER = "OWNER/promptc@REF"


class FileExists(PromptcError):
    """E970: ``promptc init`` would overwrite existing files."""

    code = "E970"

    def __init__(self, root: Path, existing: list[str]):
        self.root, self.existing = root, existing
        super().__init__(f"error[E970]: refusing to overwrite existing file(s) in {root}: {', '.join(existing)}\n"
                         "   = hint: run `promptc init` in a new or empty directory, or move those files away")


@dataclass(frozen=True)
class Created:
    """What :func:`init_project` wrote: the files, relative to ``root``."""

    root: Path
    files: tuple[str, ...]


def init_project(root: Path, action: str = ACTION_PLACEHOLDER) -> Created:
    """Write the starter project into ``root`` (created if missing). Raises :class:`FileExists` (E970)
    when any file exists (a dangling link counts), and ``UnsafeOutput`` (E812) when a path is or sits
    under a symlink in ``root`` that leads out of it; in both cases nothing is written."""
    root = Path(root)
    existing = [rel for rel in FILES if os.path.lexists(root / rel)]
    if existing:
        raise FileExists(root, existing)
    for rel in FILES:
        safewrite.check_output_path(root / rel, root)
    values = {"action": action, "paths": "."}
    for rel, template in FILES.items():
        text = Template((STARTER / template).read_text(encoding="utf-8")).safe_substitute(values)
        safewrite.write_bytes(root / rel, text.encode("utf-8"), root)
    return Created(root, tuple(FILES))


__all__ = ["ACTION_PLACEHOLDER", "Created", "FileExists", "init_project"]
