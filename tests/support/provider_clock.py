"""Time for the providers' tests (against local fake servers): waits recorded, never slept."""


class FakeClock:
    """Injectable time: ``sleep`` records the wait and advances ``now`` instead of blocking."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
