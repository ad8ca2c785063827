"""Runtime: binding plans to inputs, sessions, and clients that execute requests."""

from promptc.runtime.session import Session

__all__ = ["Session"]
