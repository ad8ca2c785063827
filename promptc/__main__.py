"""``python -m promptc``: the same command line as the ``promptc`` script."""

from promptc.cli import main

main()
