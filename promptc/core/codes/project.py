"""Diagnostic codes of commands that create project files (``promptc init``), E970–E979.

The exception carrying E970 is :class:`promptc.scaffold.FileExists`; tests/test_init.py exercises it.
"""

from promptc.core.codes.base import Code

PROJECT_CODES: tuple[Code, ...] = (
    Code("E970", "file-exists", "error", "a command that creates a project would overwrite an existing file",
         "`promptc init` writes a starter project; a file already there (a pyproject.toml, a .gitignore, a "
         "workflow) is yours, so it refuses before writing anything rather than replace or merge it.",
         "$ promptc init .  (in a directory that has a pyproject.toml)",
         "run `promptc init NEW_DIR`, or move the listed files away first"),
)
