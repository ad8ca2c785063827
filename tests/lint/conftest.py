"""Fixtures: one committed template repository per session, copied for each test."""

from __future__ import annotations

import pytest

from tests.lint.project import clone_of, init_repo


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory):
    return init_repo(tmp_path_factory.mktemp("lint-template") / "repo")


@pytest.fixture
def repo(template_repo, tmp_path):
    """A fresh copy of the committed three-plan repository."""
    return clone_of(template_repo, tmp_path / "repo")


@pytest.fixture(scope="session")
def base_build(template_repo):
    """The baseline's own build (plans with token counts), for exact impact numbers."""
    from promptc.compiler.build import compile_project

    return compile_project([template_repo], cache_dir=template_repo.parent / "cache").raise_on_error()
