"""Typed errors of the provider runtime. Every one carries a stable code and never a secret.

Codes:

- ``E502`` the provider answered with an error (:class:`ProviderError`: provider, status, request id,
  whether a retry could help);
- ``E503`` no API key for the provider (:class:`MissingKeyError`);
- ``E504`` a cache retention the model does not support, or an unknown retention value
  (:class:`RetentionError`);
- ``E505`` a stream ended before its final event (:class:`StreamInterrupted`);
- ``E506`` the request could not reach the provider, or its deadline passed (:class:`ProviderUnavailable`);
- ``E507`` a target whose provider has no runtime adapter (:class:`RuntimeConfigError`); its subclasses
  carry one code per other mistake: ``E526`` a target that is not ``provider/model`` (:class:`TargetError`),
  ``E527`` a base URL that is not http(s) (:class:`BaseURLError`), ``E528`` a bad runtime setting in
  ``[tool.promptc]`` (:class:`RuntimeSettingError`);
- ``E508`` a cache trace file that cannot be read (:class:`TraceError`);
- ``E509`` a provider answer that is not a usable reply (non-JSON, a redirect, too deeply nested, the
  wrong shape, ``null``, ``{}``) (:class:`ProviderResponseError`);
- ``E524`` a provider answer over the size bound, compressed or decompressed, or an SSE line over its
  bound (:class:`ResponseTooLarge`);
- ``W509`` a model no price source knows: its cost is None (:class:`UnpricedWarning`).
- ``W510`` a plan's cache read collapsed below a fraction of its established prefix (:class:`CacheCollapseWarning`).
"""

from __future__ import annotations

import re

from promptc.core.errors import PromptcError

_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|(?i:bearer)\s+[A-Za-z0-9_\-.=]{6,}|x-api-key[\"':\s]+[A-Za-z0-9_\-]{6,})")


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with the given secrets and anything shaped like an API key replaced by ``***``."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return _SECRET.sub("***", text)


class ProviderError(PromptcError):
    """A provider answered with an error status, or a request failed after every retry."""

    code = "E502"

    def __init__(self, provider: str, status: int | None, message: str, *, request_id: str | None = None,
                 retryable: bool = False, error_type: str | None = None, attempts: int = 1):
        # every provider-supplied string: anything shaped like a key is masked even when the caller
        # could not name the key (the clients also mask their own key exactly)
        message, error_type, request_id = (None if v is None else redact(str(v)) for v in (message, error_type, request_id))
        self.provider, self.status, self.request_id = provider, status, request_id
        self.retryable, self.error_type, self.attempts = retryable, error_type, attempts
        self.message = message
        where = f"{provider} returned {status}" if status is not None else f"{provider} request failed"
        extra = [f"request id {request_id}"] if request_id else []
        if attempts > 1:
            extra.append(f"after {attempts} attempts")
        tail = f" ({', '.join(extra)})" if extra else ""
        super().__init__(f"error[{self.code}]: {where}{': ' + error_type if error_type else ''}: {message}{tail}")


class MissingKeyError(PromptcError):
    """No API key: the provider's standard environment variable is unset."""

    code = "E503"

    def __init__(self, provider: str, env: str):
        self.provider, self.env = provider, env
        super().__init__(f"error[E503]: no API key for {provider}: set {env} (or pass api_key=...)")


class RetentionError(PromptcError):
    """A ``cacheRetention`` value that is unknown, or that the target model does not support."""

    code = "E504"


class StreamInterrupted(ProviderError):
    """A streamed reply stopped before the provider's final event: the text so far is incomplete."""

    code = "E505"

    def __init__(self, provider: str, received_text: str, reason: str, request_id: str | None = None):
        self.received_text = received_text
        super().__init__(provider, None, f"stream interrupted after {len(received_text)} characters: {reason}",
                         request_id=request_id, retryable=False)


class ProviderUnavailable(ProviderError):
    """Connection failures, timeouts and passed deadlines (after the retries the policy allows)."""

    code = "E506"


class RuntimeConfigError(PromptcError):
    """A target without an adapter (E507); the subclasses below are the other configuration mistakes."""

    code = "E507"


class TargetError(RuntimeConfigError):
    """A target that is not ``provider/model``."""

    code = "E526"


class BaseURLError(RuntimeConfigError):
    """A provider base URL that is not an http(s) URL."""

    code = "E527"


class RuntimeSettingError(RuntimeConfigError):
    """A bad runtime setting in ``[tool.promptc]`` (a table that is not one, an unknown or invalid value)."""

    code = "E528"


class ProviderResponseError(ProviderError):
    """A 2xx/3xx answer that is not a usable reply: not JSON, a redirect (never followed), nested deeper
    than :data:`MAX_JSON_DEPTH`, ``null``/``{}`` or another shape the provider never sends."""

    code = "E509"


class ResponseTooLarge(ProviderError):
    """A response body (compressed or decompressed) or one SSE line over its bound."""

    code = "E524"


class UnpricedWarning(UserWarning):
    """``W509``: no price source knows the target's model; replies carry ``cost=None``."""

    code = "W509"


class CacheCollapseWarning(UserWarning):
    """``W510``: a plan's cache read fell below a fraction of its established prefix (the trace's
    collapse monitor, :class:`promptc.runtime.trace.Tracer`)."""

    code = "W510"


class TraceError(PromptcError):
    """A cache trace file is missing or has a line that is not a trace record."""

    code = "E508"
