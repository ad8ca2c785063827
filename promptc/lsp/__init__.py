"""The promptc language server (``promptc lsp``): :mod:`.analysis` (what the editor shows, no protocol),
:mod:`.actions` (quick fixes), :mod:`.server` (the pygls handlers). Needs the ``lsp`` extra."""
