"""The dependency-free core: everything the compiler, the plan, the runtime and the engine share.

Nothing here imports another promptc package. Modules: :mod:`canonical` (canonical JSON),
:mod:`hashing` (segment hashes and the prefix chain), :mod:`vocab` (levels, stabilities, kinds,
roles, types), :mod:`errors` (diagnostics and the exception hierarchy), :mod:`codes` (the diagnostic registry), :mod:`templates` (the
sandboxed template environment), :mod:`inputs` (input types → JSON Schema and validators),
:mod:`content` (canonical text of memory and tools), :mod:`providers` (the one provider table),
:mod:`locate` (the embedded model), :mod:`resources` (grammar and stdlib), :mod:`version`.
"""
