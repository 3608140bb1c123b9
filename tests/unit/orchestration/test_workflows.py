"""Workflow definitions are validated DAGs."""

from __future__ import annotations

import pytest

from orchestration.exceptions import InvalidWorkflow
from orchestration.workflows import Step, Workflow, downstream_of


def test_a_cycle_is_refused_naming_its_steps() -> None:
    with pytest.raises(InvalidWorkflow, match="cycle"):
        Workflow("w", 1, (Step("a", "x.a", needs=("b",)), Step("b", "x.b", needs=("a",))))


def test_an_unknown_dependency_is_refused() -> None:
    with pytest.raises(InvalidWorkflow, match="unknown steps \\['ghost'\\]"):
        Workflow("w", 1, (Step("a", "x.a", needs=("ghost",)),))


def test_duplicate_step_names_are_refused() -> None:
    with pytest.raises(InvalidWorkflow, match="repeats"):
        Workflow("w", 1, (Step("a", "x.a"), Step("a", "x.b")))


def test_downstream_includes_every_transitive_dependent() -> None:
    needs = {"a": [], "b": ["a"], "c": ["b"], "d": [], "e": ["d", "c"]}
    assert downstream_of(needs, {"b"}) == {"b", "c", "e"}
    assert downstream_of(needs, {"d"}) == {"d", "e"}
