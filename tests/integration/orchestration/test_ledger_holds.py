"""The side-effect ledger's holds (orchestration/side_effects.py): while an attempt performs an effect
its row names that attempt and is held until its time runs out; another attempt that finds it held
is told by whom and when to retry; a failed effect gives up its own hold and nobody else's; an
effect finished by someone else meanwhile is read, not performed again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from orchestration import clock as engine_clock
from orchestration.exceptions import EffectInProgress
from orchestration.models import SideEffect
from orchestration.registry import TaskContext
from orchestration.side_effects import perform_once
from tests.support.effects import Mailer

pytestmark = pytest.mark.django_db

KEY, KIND, FULL_KEY = "k", "email:x", "k:email:x"


def context(*, attempt: int = 1, seconds: float = 60, heartbeat: Callable[[], bool] = lambda: True) -> TaskContext:
    """Attempt `attempt` of task 5, with `seconds` left before its timeout."""
    return TaskContext(
        task_id=5,
        action="engine.noop",
        attempt=attempt,
        input={},
        inputs={},
        cursor=None,
        idempotency_key=KEY,
        deadline=engine_clock.monotonic() + seconds,
        heartbeat=heartbeat,
    )


def hold_of(key: str = FULL_KEY) -> tuple[str, Any]:
    row = SideEffect.objects.get(key=key)
    return row.held_by, row.held_until


@pytest.mark.parametrize(("seconds_left", "held_for"), [(600, 600), (60, 300)])
def test_an_effect_being_performed_is_held_by_its_attempt_for_its_time_left_and_at_least_the_hold(
    clock, seconds_left: float, held_for: float
) -> None:
    seen: list[tuple[str, Any]] = []

    def send() -> dict[str, Any]:
        seen.append(hold_of())
        return {"message_id": "m1"}

    assert perform_once(ctx=context(seconds=seconds_left), key=KEY, kind=KIND, fn=send) == {"message_id": "m1"}

    assert seen == [("task 5 attempt 1", clock.now() + timedelta(seconds=held_for))]
    row = SideEffect.objects.get(key=FULL_KEY)
    assert (row.status, row.performed, row.held_by, row.held_until) == (SideEffect.Status.DONE, 1, "", None)


def test_another_attempt_finding_the_effect_held_is_told_who_holds_it_and_when_to_retry(clock) -> None:
    until = clock.now() + timedelta(seconds=120.4)
    SideEffect.objects.create(key=FULL_KEY, kind=KIND, task_id=5, held_by="task 5 attempt 1", held_until=until)
    mail = Mailer()

    with pytest.raises(EffectInProgress) as refused:
        perform_once(ctx=context(attempt=2), key=KEY, kind=KIND, fn=mail)

    assert str(refused.value) == "email:x is being performed by task 5 attempt 1; retry after its hold (120 s)"
    assert refused.value.retry_after == pytest.approx(121.4)  # a second past the hold
    assert mail.sent == 0
    assert hold_of() == ("task 5 attempt 1", until)


def test_a_hold_about_to_end_is_retried_a_second_after_it_ends(clock) -> None:
    """What is left of the hold is counted to the fraction: 0.25 s left, retry in 1.25 s."""
    until = clock.now() + timedelta(seconds=0.25)
    SideEffect.objects.create(key=FULL_KEY, kind=KIND, task_id=5, held_by="task 5 attempt 1", held_until=until)

    with pytest.raises(EffectInProgress) as refused:
        perform_once(ctx=context(attempt=2), key=KEY, kind=KIND, fn=Mailer())

    assert refused.value.retry_after == pytest.approx(1.25)


def test_an_effect_whose_row_vanished_before_its_hold_is_not_performed_blind_but_retried_at_once(clock) -> None:
    """The row was there when the attempt looked it up and gone when it went to hold it (deleted by
    hand, say): nobody holds it, so the attempt is told to retry in a second, and the retry records
    the effect afresh and performs it."""
    SideEffect.objects.create(key=FULL_KEY, kind=KIND, task_id=5)

    def heartbeat() -> bool:
        SideEffect.objects.filter(key=FULL_KEY).delete()
        return True

    mail = Mailer()
    with pytest.raises(EffectInProgress) as refused:
        perform_once(ctx=context(heartbeat=heartbeat), key=KEY, kind=KIND, fn=mail)

    assert str(refused.value) == "email:x is being performed by another attempt; retry after its hold (0 s)"
    assert refused.value.retry_after == 1.0
    assert mail.sent == 0
    assert perform_once(ctx=context(), key=KEY, kind=KIND, fn=mail) == {"message_id": "m1"}


def test_an_effect_another_attempt_finished_meanwhile_is_read_not_performed_again(clock) -> None:
    """The row was pending when this attempt looked; another attempt finished the effect while this
    one renewed its lease: its result is this attempt's result."""
    SideEffect.objects.create(key=FULL_KEY, kind=KIND, task_id=5)

    def heartbeat() -> bool:
        SideEffect.objects.filter(key=FULL_KEY).update(
            status=SideEffect.Status.DONE, result={"message_id": "m0"}, performed=1, done_at=clock.now()
        )
        return True

    mail = Mailer()
    assert perform_once(ctx=context(heartbeat=heartbeat), key=KEY, kind=KIND, fn=mail) == {"message_id": "m0"}
    assert mail.sent == 0
    row = SideEffect.objects.get(key=FULL_KEY)
    assert (row.status, row.performed, row.result) == (SideEffect.Status.DONE, 1, {"message_id": "m0"})


def test_a_done_effect_is_read_without_renewing_the_lease(clock) -> None:
    """Reading a result needs no lease: only performing does. (An attempt that lost its task still
    reads what was done.)"""
    SideEffect.objects.create(
        key=FULL_KEY, kind=KIND, task_id=5, status=SideEffect.Status.DONE, result={"message_id": "m0"}, performed=1
    )
    renewals: list[int] = []

    def heartbeat() -> bool:
        renewals.append(1)
        return False

    mail = Mailer()
    assert perform_once(ctx=context(heartbeat=heartbeat), key=KEY, kind=KIND, fn=mail) == {"message_id": "m0"}
    assert (renewals, mail.sent) == ([], 0)


def test_the_attempt_holding_an_effect_may_take_it_up_again(clock) -> None:
    """Its own hold does not make an attempt wait on itself."""
    until = clock.now() + timedelta(seconds=100)
    SideEffect.objects.create(key=FULL_KEY, kind=KIND, task_id=5, held_by="task 5 attempt 1", held_until=until)
    mail = Mailer()

    assert perform_once(ctx=context(attempt=1), key=KEY, kind=KIND, fn=mail) == {"message_id": "m1"}
    assert mail.sent == 1


def test_taking_a_hold_leaves_the_other_effects_alone(clock) -> None:
    SideEffect.objects.create(key="other:deploy", kind="deploy", task_id=9)

    perform_once(ctx=context(), key=KEY, kind=KIND, fn=Mailer())

    other = SideEffect.objects.get(key="other:deploy")
    assert (other.status, other.held_by, other.held_until) == (SideEffect.Status.PENDING, "", None)


def test_an_effect_that_failed_gives_up_its_hold_and_its_error_goes_through(clock) -> None:
    """Not performed, or not knowingly: the next attempt need not wait out the hold."""

    def send() -> dict[str, Any]:
        raise ConnectionError("smtp down")

    with pytest.raises(ConnectionError, match="smtp down"):
        perform_once(ctx=context(attempt=1), key=KEY, kind=KIND, fn=send)

    row = SideEffect.objects.get(key=FULL_KEY)
    assert (row.status, row.held_by, row.held_until) == (SideEffect.Status.PENDING, "", None)
    mail = Mailer()
    assert perform_once(ctx=context(attempt=2), key=KEY, kind=KIND, fn=mail) == {"message_id": "m1"}


def test_a_failed_effect_inside_another_gives_up_only_its_own_hold(clock) -> None:
    held_meanwhile: list[tuple[str, Any]] = []

    def deploy() -> dict[str, Any]:
        def notify() -> dict[str, Any]:
            raise ConnectionError("smtp down")

        with pytest.raises(ConnectionError):
            perform_once(ctx=context(), key=KEY, kind="email:deployed", fn=notify)
        held_meanwhile.append(hold_of("k:deploy"))
        return {"url": "https://x"}

    perform_once(ctx=context(seconds=600), key=KEY, kind="deploy", fn=deploy)

    assert held_meanwhile == [("task 5 attempt 1", clock.now() + timedelta(seconds=600))]
    assert hold_of("k:email:deployed") == ("", None)


def test_a_failed_effect_leaves_the_hold_another_attempt_took_meanwhile(clock) -> None:
    """This attempt outlasted its hold and attempt 2 took the effect over: failing now, this attempt
    must not free what attempt 2 holds."""
    theirs = ("task 5 attempt 2", clock.now() + timedelta(seconds=300))

    def send() -> dict[str, Any]:
        SideEffect.objects.filter(key=FULL_KEY).update(held_by=theirs[0], held_until=theirs[1])
        raise ConnectionError("smtp down")

    with pytest.raises(ConnectionError):
        perform_once(ctx=context(attempt=1), key=KEY, kind=KIND, fn=send)

    assert hold_of() == theirs
