"""User errors of the engine, the server's configuration and the engine client (codes E701–E714).

Each is a :class:`~promptc.core.errors.PromptcError`, so the CLI prints the message and exits 2 (usage
error) instead of reporting an internal error. Messages follow the diagnostic shape:
``error[CODE]: <field>: <what is wrong>`` and a ``= hint:`` line.

======  ==========================================================================
E701    a size (``--budget``, ``--max-body``, ``--token-cache``) is not a finite, non-negative size
E702    a duration or count limit (``--ttl``, ``--max-tokens-limit``, ...) is not a finite positive number
E703    the API keys file (or ``PROMPTC_API_KEYS``) is unreadable or malformed
E704    an API key or tenant name is empty (an empty key would disable authentication)
E705    no model at the given path (or the embedded model is not installed)
E706    the model file exists but cannot be loaded (not GGUF/safetensors, unsupported architecture)
E707    the server's port is in use or the address cannot be bound
E708    the engine server cannot be reached (connection refused, timeout)
E709    the engine URL is malformed
E710    a weight mode (``--dtype``) that the device cannot run (int4 is a CPU kernel)
E711    the server's request queue is full (HTTP 429 with ``retry-after``)
E712    a request ran past its deadline and was cancelled (HTTP 504)
E713    a request's ``timeout`` (body field or ``x-promptc-timeout`` header) is not a positive number
E714    the metrics key is empty, contains whitespace, or is also a tenant's API key
E715    a command that runs the engine on an install without the engine extra (or the embedded model)
======  ==========================================================================

E711–E713 are a running server's answers (queue full: 429; deadline exceeded: 504; a malformed
``timeout``: 400), raised by the scheduler and the server and sent in the error body's message.
E708 and E709 are raised by the client (:mod:`promptc.runtime.engine_client`), which defines them
itself so that the runtime does not import the engine package.
"""

from __future__ import annotations

from promptc.core.errors import PromptcError


class EngineUserError(PromptcError):
    """A located, coded user error of the engine side; ``field`` names the option or file at fault."""

    code = "E700"

    def __init__(self, field: str | None, message: str, hint: str | None = None):
        self.field, self.message, self.hint = field, message, hint
        text = f"error[{self.code}]: " + (f"{field}: " if field else "") + message
        if hint:
            text += f"\n   = hint: {hint}"
        super().__init__(text)


class InvalidSize(EngineUserError, ValueError):
    code = "E701"


class InvalidLimit(EngineUserError, ValueError):
    code = "E702"


class KeysFileError(EngineUserError, ValueError):
    code = "E703"


class EmptyKeyError(EngineUserError, ValueError):
    code = "E704"


class ModelNotFound(EngineUserError, FileNotFoundError):
    """No model where one was expected; the message says how to get one."""

    code = "E705"

    def __init__(self, message: str, hint: str | None = None, field: str | None = "--model"):
        super().__init__(field, message, hint)


class UnsupportedModel(EngineUserError, ValueError):
    code = "E706"


class PortUnavailable(EngineUserError, OSError):
    code = "E707"


class DtypeUnsupported(EngineUserError, ValueError):
    code = "E710"


class MetricsKeyError(EngineUserError, ValueError):
    code = "E714"


class QueueFull(EngineUserError, RuntimeError):
    """The scheduler's waiting queue is at its bound; the request was not queued."""

    code = "E711"

    def __init__(self, waiting: int, limit: int):
        self.waiting, self.limit = waiting, limit
        super().__init__(None, f"the engine's request queue is full ({waiting} requests waiting, limit {limit})",
                         hint="retry after the response's retry-after seconds")


class DeadlineExceeded(EngineUserError, TimeoutError):
    """The request ran past its deadline; the scheduler cancelled it and freed its resources."""

    code = "E712"

    def __init__(self, timeout_s: float | None, stage: str):
        self.timeout_s, self.stage = timeout_s, stage
        within = f" of {timeout_s:g} s" if timeout_s is not None else ""
        super().__init__(None, f"the request ran past its deadline{within} while {stage}; it was cancelled",
                         hint="ask for fewer tokens or send a longer `timeout`")


class EngineNotInstalled(EngineUserError, ModuleNotFoundError):
    """``serve``, ``run --embedded`` or ``demo`` on the light install (``pip install promptc``): the engine
    extra or the embedded model is missing; the hint is the exact install line
    (:func:`promptc.core.extras.require_engine` raises it)."""

    code = "E715"

    def __init__(self, command: str, missing: list[str], install: str):
        self.command, self.missing, self.install = command, missing, install
        super().__init__(None, f"`{command}` runs the KV-tree engine, which is not installed "
                               f"(missing: {', '.join(missing)})",
                         hint=f"install it with: {install}")


class InvalidTimeout(EngineUserError, ValueError):
    """A request's ``timeout`` is not a positive, finite number of seconds."""

    code = "E713"
