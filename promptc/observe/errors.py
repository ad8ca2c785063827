"""The observer's coded errors (registered in :mod:`promptc.core.codes.observe`)."""

from __future__ import annotations

from promptc.core.errors import PromptcError


class ObserveConfigError(PromptcError, ValueError):
    """A proxy setting that cannot work: a non-loopback bind without a key, a bad upstream URL or option."""

    code = "E560"
