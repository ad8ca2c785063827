"""The KV-tree inference engine: a torch Llama-family runner that caches KV state per segment hash."""

from promptc.engine.runner import Completion, Engine, GenerationParams, SegmentIn

__all__ = ["Engine", "GenerationParams", "SegmentIn", "Completion"]
