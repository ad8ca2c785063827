"""The KV-tree inference engine: a torch Llama-family runner that caches KV state per segment hash.

Imports are lazy so that ``import promptc.engine`` (e.g. by the CLI) does not pay for importing torch.
"""

from __future__ import annotations

__all__ = ["Engine", "GenerationParams", "SegmentIn", "Completion"]


def __getattr__(name: str):
    if name in __all__:
        from promptc.engine import runner

        return getattr(runner, name)
    raise AttributeError(name)
