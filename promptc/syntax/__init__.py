"""Parsing .prompt source into the AST."""

from promptc.syntax.parser import parse_source

__all__ = ["parse_source"]
