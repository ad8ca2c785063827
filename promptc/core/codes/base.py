"""The :class:`Code` record: one diagnostic code and its documentation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Code:
    """One diagnostic code and its documentation."""

    code: str  #: e.g. ``E203``
    name: str  #: kebab-case, e.g. ``nondeterministic-static-template``
    severity: Literal["error", "warning", "info"]  #: info: reported, never fails a run
    summary: str  #: one line: what is wrong
    explanation: str  #: why it matters (what breaks, what it costs)
    example: str = ""  #: a minimal input that triggers it
    fix: str = ""  #: what to write instead
