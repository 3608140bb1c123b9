"""`from orchestration import ...`: the engine's public names, each the object its module defines."""

from importlib import import_module

import pytest

import orchestration


@pytest.mark.parametrize("name", orchestration.__all__)
def test_each_public_name_is_the_object_its_module_defines(name: str) -> None:
    module = orchestration._EXPORTS[name]
    expected = import_module(module) if module.endswith("." + name) else getattr(import_module(module), name)
    assert getattr(orchestration, name) is expected


def test_the_readme_example_imports_from_one_place() -> None:
    from orchestration import RetryPolicy, TaskContext, action, enqueue, enqueue_many, run_start  # noqa: F401


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'queue_everything'"):
        orchestration.queue_everything  # noqa: B018
