"""Compiled plans in the frameworks agents are written in: one module per framework, each imported
only when used (its framework is an optional extra, e.g. ``pip install 'promptc[langchain]'``).

The official SDKs need no integration: :func:`promptc.runtime.sdk.to_sdk` returns their create() kwargs."""
