"""The promptc version (also written into every plan and lockfile)."""

__version__ = "0.1.0"
