"""The benchmark's Procrastinate tasks: a no-op and a step of a chain (defers the next)."""

from procrastinate.contrib.django import app

CHAIN_STEPS = 5


@app.task(name="noop")
async def noop() -> None:
    return None


@app.task(name="chain_step")
async def chain_step(chain: int, step: int) -> None:
    if step + 1 < CHAIN_STEPS:
        await chain_step.defer_async(chain=chain, step=step + 1)
