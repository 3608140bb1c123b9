"""The benchmark's tasks for django-tasks: a no-op and a step of a chain (enqueues the next)."""

from django_tasks import task

CHAIN_STEPS = 5


@task()
def noop() -> None:
    return None


@task()
def chain_step(chain: int, step: int) -> None:
    if step + 1 < CHAIN_STEPS:
        chain_step.enqueue(chain=chain, step=step + 1)
