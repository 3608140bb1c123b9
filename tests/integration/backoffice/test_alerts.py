"""Alerts: a breach is an error record and ONE staff email per window, however often rolled up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from metrics.alerts import evaluate
from metrics.models import AlertNotice, ErrorGroup, Rollup
from metrics.rollups import rollup
from orchestration.models import AttemptOutcome
from orchestration.services import enqueue
from tests.integration.backoffice.test_rollups import attempts
from tests.support.factories import paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def roll(django_capture_on_commit_callbacks):
    """rollup(), with the after-commit email actually sent (the test's transaction never commits)."""

    def run() -> Rollup:
        with django_capture_on_commit_callbacks(execute=True):
            return rollup()

    return run


def test_error_rate_above_one_percent_alerts_once_per_window(clock, roll):
    clock.advance(60)
    attempts(clock, "design-ia.generate", [100.0] * 98)
    attempts(clock, "design-ia.generate", [100.0] * 2, outcome=AttemptOutcome.RETRY)  # 2 %
    clock.advance(300)
    roll()
    clock.advance(20)
    roll()  # the cron delivered twice
    assert len(mail.outbox) == 1
    assert "Error rate 2.0% over 100 attempts" in mail.outbox[0].body
    group = ErrorGroup.objects.get(location="alert:error_rate")
    assert group.count == 1 and group.error_type == "Alert"
    assert AlertNotice.objects.count() == 1


def test_the_next_window_alerts_again_with_its_own_email(clock, roll):
    enqueue("engine.noop", {})
    clock.advance(400)
    roll()
    clock.advance(300)
    roll()
    assert len(mail.outbox) == 2
    assert ErrorGroup.objects.get(location="alert:oldest_waiting").count == 2


def test_one_email_lists_every_breach_of_the_window(clock, roll):
    order = paid_order()
    order.paid_at = clock.now() - timedelta(minutes=26)
    order.status = "in_progress"
    order.save()
    enqueue("engine.noop", {}, run_after=clock.now() - timedelta(minutes=6))
    roll()
    assert len(mail.outbox) == 1
    assert "1 order(s) past their 25 minutes" in mail.outbox[0].body
    assert "oldest due task has waited 360 s" in mail.outbox[0].body
    assert mail.outbox[0].subject == "[Site factory] 2 alert(s) at 2026-11-24 08:55 UTC"


def test_an_error_rate_of_exactly_one_percent_or_less_raises_nothing(clock, roll):
    clock.advance(60)
    attempts(clock, "design-ia.generate", [100.0] * 99)
    attempts(clock, "design-ia.generate", [100.0], outcome=AttemptOutcome.FAILED)
    clock.advance(300)
    roll()
    assert mail.outbox == [] and not ErrorGroup.objects.exists()


def test_database_connections_above_the_threshold_alert(settings):
    settings.METRICS_ALERT_DB_CONNECTIONS = 5
    row = Rollup(attempts=0, oldest_waiting_seconds=0, orders_late=0, db_connections=6)
    assert [a.name for a in evaluate(row)] == ["db_connections"]
    row.db_connections = None  # SQLite: unknown, never an alert
    assert evaluate(row) == []


def test_a_muted_error_group_is_left_out_of_the_error_digest_until_its_message_changes(
    clock, settings, django_capture_on_commit_callbacks
):
    from metrics.alerts import mail_error_digest
    from metrics.errors import error_group_set_status, record_error
    from metrics.models import GroupStatus

    settings.ADMINS = [("Staff", "staff@studio.example")]

    def occur(message: str) -> ErrorGroup:
        return record_error(error_type="KeyError", location="orders.views:page", message=message, mail_staff=True)

    def digest() -> list[ErrorGroup]:
        clock.advance(2 * settings.METRICS_ERROR_MAIL_WINDOW_SECONDS)
        with django_capture_on_commit_callbacks(execute=True):
            return mail_error_digest(now=clock.now())

    group = occur("'slug'")
    assert digest() == [group]
    error_group_set_status(group=group, status=GroupStatus.MUTED, actor_label="staff:staffer")

    occur("'slug'")  # the same failure again: muted, quiet
    assert digest() == []
    error_group_set_status(group=group, status=GroupStatus.OPEN, actor_label="staff:staffer")
    assert digest() == []  # what happened while muted is not mailed on reopening either

    error_group_set_status(group=group, status=GroupStatus.MUTED, actor_label="staff:staffer")
    occur("'status_token'")  # another message: reopened, and mailed
    assert digest() == [group]
    assert len(mail.outbox) == 2
