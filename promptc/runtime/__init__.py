"""Runtime: binding plans to inputs (sessions) and clients that execute requests on providers.

``Session`` is imported on first use, so importing the provider client does not load the
template machinery the session needs.
"""


def __getattr__(name):
    if name == "Session":
        from promptc.runtime.session import Session

        return Session
    raise AttributeError(f"module 'promptc.runtime' has no attribute {name!r}")


__all__ = ["Session"]
