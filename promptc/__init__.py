"""promptc: a declarative prompt-composition language and compiler with a KV-tree inference engine.

The Python API for agents::

    import promptc
    build = promptc.compile("examples/team")          # or promptc.load_plan("out/backend.plan.json")
    session = build["backend"].bind()                  # session inputs
    request = session.render(file="api.py", query="Why does /users 500?")
    request.to_messages()
    client = promptc.Client("anthropic/claude-sonnet-4-5")          # key from ANTHROPIC_API_KEY
    reply = client.complete(request, max_tokens=400)               # reply.text, reply.usage, reply.cost
"""

from promptc.core.errors import AppendOnlyError, CompileError, InputError, PlanFormatError, PromptcError, RenderError
from promptc.core.version import __version__


def compile(path, **kwargs):  # noqa: A001 - the public name the docs promise
    """Compile every plan under ``path`` (a directory or .prompt file). Raises CompileError on errors."""
    from promptc.compiler.build import compile_project

    return compile_project([path], **kwargs).raise_on_error()


def load_plan(path, **kwargs):
    """Load a compiled ``.plan.json``."""
    from promptc.plan import load_plan as _load  # keeps `import promptc` light: pydantic models load on use

    return _load(path, **kwargs)


def __getattr__(name):
    """``promptc.Client`` / ``promptc.AsyncClient``, imported on first use so ``import promptc`` stays light."""
    if name in ("Client", "AsyncClient"):
        from promptc.runtime import client

        return getattr(client, name)
    if name == "to_sdk":  # official SDK create() kwargs (docs/integrations/sdk.md)
        from promptc.runtime.sdk import to_sdk

        return to_sdk
    raise AttributeError(f"module 'promptc' has no attribute {name!r}")


__all__ = ["compile", "load_plan", "Client", "AsyncClient", "AppendOnlyError", "CompileError", "InputError",
           "PlanFormatError", "PromptcError", "RenderError", "__version__"]
