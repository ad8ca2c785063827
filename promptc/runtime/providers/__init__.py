"""Provider adapters: one module per provider behind :class:`~promptc.runtime.providers.base.Adapter`.

:data:`ADAPTERS` maps ``provider`` (or ``provider:api``) to its adapter class. It is discovered from
the package's modules, in module-name order: a provider's wire module exports ``ADAPTER`` (its class,
keyed by the class's ``provider``) or ``ADAPTERS`` (``(key, class)`` pairs, for a module with several
providers or APIs) — adding a provider needs no line here.
"""

from __future__ import annotations

import importlib
import pkgutil

from promptc.runtime.errors import RuntimeConfigError
from promptc.runtime.providers.base import Adapter


def _discovered() -> tuple[tuple[str, type[Adapter]], ...]:
    """Every wire module's ``ADAPTER``/``ADAPTERS``, in module-name order (support modules such as
    :mod:`.base` export neither)."""
    found: list[tuple[str, type[Adapter]]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        one = getattr(module, "ADAPTER", None)
        found.extend(((one.provider, one),) if one is not None else getattr(module, "ADAPTERS", ()))
    return tuple(found)


#: Every adapter, by ``provider`` or ``provider:api`` (discovered: see the module doc).
ADAPTERS: dict[str, type[Adapter]] = dict(_discovered())


def adapter_for(provider: str, api: str | None = None) -> Adapter:
    """The adapter for ``provider`` (and ``api`` where a provider has several); E507 when there is none."""
    key = f"{provider}:{api}" if api else provider
    cls = ADAPTERS.get(key)
    if cls is None:
        known = ", ".join(sorted(ADAPTERS))
        raise RuntimeConfigError(f"error[E507]: no runtime adapter for `{key}` yet (available: {known}); "
                                 "the engine target runs with `promptc run --engine/--embedded`")
    return cls()


__all__ = ["ADAPTERS", "Adapter", "adapter_for"]
