"""What staff are told when an order fails: the mail names the business, the failing step and
its cause; it goes once per incident; a muted error group stays quiet until its message
changes. The home page lists what needs attention, each line with its action; the order's page
says what went wrong in words, and acts return to it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from gateway.models import EventSource, EventStatus, WebhookEvent
from metrics.errors import error_group_set_status
from metrics.models import ErrorGroup, GroupStatus
from orchestration import clock
from orchestration.models import RunStatus, Task, TaskStatus, WorkflowRun
from orchestration.services import enqueue
from orders.models import Project, ProjectStatus
from orders.selectors import project_latest_run
from orders.services import project_create, project_mark_paid
from tests.support.factories import drain

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def on_commit_runs(django_capture_on_commit_callbacks):
    """Staff mail leaves on commit; these tests' transactions never commit, so run the callbacks."""
    global _capture
    _capture = django_capture_on_commit_callbacks


_capture = None


def failing_order(name: str = "Fleurs de Camille", email: str = "camille.fleurs.example") -> Project:
    """A real order whose setup step fails for good on its invalid email."""
    with _capture(execute=True):
        return _failing_order(name, email)


def _failing_order(name: str, email: str) -> Project:
    project = project_create(business_name=name, contact_email="placeholder@example.com", language="en")
    Project.objects.filter(pk=project.pk).update(contact_email=email)
    project_mark_paid(
        project_id=project.id,
        checkout_session_id=f"cs_test_{project.id.hex[:10]}",
        amount_cents=settings.ORDER_PRICE_CENTS,
        currency=settings.ORDER_CURRENCY,
    )
    drain()
    project.refresh_from_db()
    assert project.status == ProjectStatus.FAILED
    return project


def staff_mails() -> list:
    return [m for m in mail.outbox if m.to == [a for _, a in settings.ADMINS]]


def test_the_staff_mail_names_the_business_the_step_the_cause_and_links_the_order():
    project = failing_order()

    [message] = staff_mails()

    assert message.subject.startswith("[Site factory] Fleurs de Camille: step setup failed: ")
    assert "The customer's brief is invalid (contact email)" in message.subject
    assert "Customer: camille.fleurs.example" in message.body
    assert f"{settings.SITE_URL}{reverse('admin:orders_project_change', args=[project.pk])}" in message.body
    assert "What to do: Correct the field" in message.body


def test_a_muted_error_group_sends_no_mail_until_its_message_changes(superuser):
    failing_order()
    group = ErrorGroup.objects.get(last_project_id=Project.objects.get().id)
    error_group_set_status(group=group, status=GroupStatus.MUTED, actor_label="staff:staffer")
    mail.outbox.clear()

    failing_order(name="Second Shop")  # the same failure, same message shape
    assert staff_mails() == []
    group.refresh_from_db()
    assert group.status == GroupStatus.MUTED
    assert len(group.project_ids) == 2  # both orders listed on the group

    failing_order(name="Third Shop", email="")  # the same place, another message: it changed
    group.refresh_from_db()
    assert group.status == GroupStatus.OPEN and group.status_changed_by == "system"
    assert len(staff_mails()) == 1


def test_a_muted_group_stays_muted_when_only_an_object_address_in_its_message_differs(superuser):
    """Python's reprs ('<HTTPConnection object at 0x7f3a9c>', as urllib3's timeouts print) change on
    every attempt: that is the same failure, not a changed one that reopens and mails again."""
    from metrics.errors import record_error

    def occur(address: str) -> ErrorGroup:
        message = (
            "llm: POST /v1/chat/completions failed: ConnectTimeout: HTTPSConnectionPool(host='llm.example'): Max "
            f"retries exceeded (Caused by ConnectTimeoutError(<HTTPSConnection object at {address}>, 'timed out'))"
        )
        return record_error(
            error_type="RetryableError", location="agents.actions.common:provider_errors", message=message
        )

    group = occur("0x7f3a9c1b2d50")
    error_group_set_status(group=group, status=GroupStatus.MUTED, actor_label="staff:staffer")

    occur("0x7fab11e0ffa0")

    group.refresh_from_db()
    assert group.status == GroupStatus.MUTED


def test_a_resolved_error_group_reopens_when_it_happens_again(superuser):
    failing_order()
    group = ErrorGroup.objects.get()
    error_group_set_status(group=group, status=GroupStatus.RESOLVED, actor_label="staff:staffer")

    failing_order(name="Second Shop")

    group.refresh_from_db()
    assert group.status == GroupStatus.OPEN


def test_error_groups_are_resolved_and_muted_from_the_admin_and_list_their_orders(staff_client):
    project = failing_order()
    group = ErrorGroup.objects.get()
    url = reverse("admin:metrics_errorgroup_change", args=[group.pk])
    page = staff_client.get(url).content.decode()
    assert reverse("admin:orders_project_change", args=[project.pk]) in page
    assert "brief is invalid (contact email)" in page

    response = staff_client.post(
        reverse("admin:metrics_errorgroup_changelist"),
        {"action": "mute", "_selected_action": [group.pk], "confirm": "yes", "next": url},
    )

    assert response.status_code == 302 and response["Location"] == url
    group.refresh_from_db()
    assert group.status == GroupStatus.MUTED and group.status_changed_by == "staff:root"


def test_the_home_page_lists_what_needs_attention_each_with_its_action(staff_client):
    failed = failing_order()
    unpaid = project_create(business_name="Atelier Unpaid", contact_email="unpaid@example.com")
    Project.objects.filter(pk=unpaid.pk).update(created_at=clock.now() - timedelta(hours=3))
    wrong = project_create(business_name="Wrong Amount Cafe", contact_email="cafe@example.com")
    WebhookEvent.objects.create(
        source=EventSource.STRIPE,
        external_id="evt_wrong",
        type="checkout.session.completed",
        payload={"data": {"object": {"client_reference_id": str(wrong.id), "amount_total": 100}}},
        signature_ok=True,
        status=EventStatus.REJECTED,
        outcome="wrong_amount: paid 100 'eur', the price is 39900 'eur'",
        received_at=clock.now(),
    )
    task = enqueue("test.permanent", {})
    drain()
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DEAD

    page = staff_client.get(reverse("admin:index")).content.decode()

    failed_section = page.split('id="attention-failed"', 1)[1].split("</ul>", 1)[0]
    assert "Fleurs de Camille" in failed_section and "failed at step <b>setup</b>" in failed_section
    assert reverse("admin:orders_project_change", args=[failed.pk]) in failed_section
    payments = page.split('id="attention-payments"', 1)[1].split("</ul>", 1)[0]
    assert "Wrong Amount Cafe" in payments and "Paid the wrong amount" in payments
    assert reverse("admin:orders_project_change", args=[wrong.pk]) in payments
    abandoned = page.split('id="attention-abandoned"', 1)[1].split("</ul>", 1)[0]
    assert "Atelier Unpaid" in abandoned and "mailto:unpaid@example.com" in abandoned
    assert "Wrong Amount Cafe" not in abandoned  # listed once, with its refused payment
    tasks = page.split('id="attention-tasks"', 1)[1].split("</ul>", 1)[0]
    assert 'value="retry_now"' in tasks and f'value="{task.pk}"' in tasks
    # Apps in the order of the job: orders first.
    assert page.index("Orders</a>") < page.index("Workflow engine") < page.index("Authentication")


def test_the_order_page_shows_a_refused_payment(staff_client):
    wrong = project_create(business_name="Wrong Amount Cafe", contact_email="cafe@example.com")
    WebhookEvent.objects.create(
        source=EventSource.STRIPE,
        external_id="evt_wrong",
        type="checkout.session.completed",
        payload={"data": {"object": {"client_reference_id": str(wrong.id), "amount_total": 100}}},
        signature_ok=True,
        status=EventStatus.REJECTED,
        outcome="wrong_amount: paid 100 'eur', the price is 39900 'eur'",
        received_at=clock.now(),
    )

    page = staff_client.get(reverse("admin:orders_project_change", args=[wrong.pk])).content.decode()

    problem = page.split('id="problem"', 1)[1]
    assert "Payment refused" in problem and "Paid the wrong amount (paid 100 &#x27;eur&#x27;" in problem
    event = WebhookEvent.objects.get()
    inbox = staff_client.get(reverse("admin:gateway_webhookevent_change", args=[event.pk])).content.decode()
    assert reverse("admin:orders_project_change", args=[wrong.pk]) in inbox  # and the event links its order


def test_a_replay_from_the_order_page_returns_to_it_and_an_outside_next_is_ignored(staff_client):
    project = failing_order()
    run = project_latest_run(project)
    page = reverse("admin:orders_project_change", args=[project.pk])
    assert "act-replay_failed" in staff_client.get(page).content.decode()
    Project.objects.filter(pk=project.pk).update(contact_email="camille@fleurs.example")
    changelist = reverse("admin:orchestration_workflowrun_changelist")

    outside = staff_client.post(
        changelist,
        {"action": "replay_scratch", "_selected_action": [run.pk], "confirm": "yes", "next": "https://evil.example/"},
    )
    assert outside.status_code == 302 and not outside["Location"].startswith("https://evil.example")

    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_a_run_is_named_after_its_customer_and_its_waiting_retry_counts_down(staff_client, settings):
    settings.LLM_BASE_URL, settings.LLM_API_KEY = "http://127.0.0.1:9/v1", "sk-test-0123456789"
    project = project_create(business_name="Garage Bruno", contact_email="bruno@garage.example", language="en")
    project_mark_paid(
        project_id=project.id,
        checkout_session_id="cs_test_bruno",
        amount_cents=settings.ORDER_PRICE_CENTS,
        currency=settings.ORDER_CURRENCY,
    )
    drain()  # setup succeeds; design's first attempt fails: the provider refuses connections
    run = project_latest_run(project)
    design = run.tasks.get(step="design")
    assert design.status == TaskStatus.QUEUED and design.attempt == 1
    # Its backoff has jitter (it may already be due): put the next try 90 s ahead, as a longer backoff would.
    Task.objects.filter(pk=design.pk).update(run_after=clock.now() + timedelta(seconds=90))

    run_page = staff_client.get(reverse("admin:orchestration_workflowrun_change", args=[run.pk])).content.decode()
    order_page = staff_client.get(reverse("admin:orders_project_change", args=[project.pk])).content.decode()

    assert "<h2>Garage Bruno: order running" in run_page
    assert "&rsaquo; Garage Bruno: order running" in run_page  # the breadcrumbs too, not "order v1 (running)"
    assert "next try (attempt 2 of 5)" in order_page and 'class="countdown"' in order_page
    assert re.search(r'class="countdown"[^>]*>in 1 min (2\d|30) s<', order_page)
    assert "The AI copy provider is unreachable" in order_page


def test_after_a_replay_the_next_try_counts_within_the_fresh_set_of_attempts(staff_client):
    """A replay numbers attempts on from the last (attempt_base): the page must not say 'attempt 7 of 5'."""
    project = failing_order()
    run = project_latest_run(project)
    setup = run.tasks.get(step="setup")
    # As after a replay whose first attempt failed: 5 attempts spent before, 1 of the new set now.
    Task.objects.filter(pk=setup.pk).update(
        status=TaskStatus.QUEUED,
        attempt=6,
        attempt_base=5,
        max_attempts=5,
        run_after=clock.now() + timedelta(seconds=90),
    )
    WorkflowRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)

    order_page = staff_client.get(reverse("admin:orders_project_change", args=[project.pk])).content.decode()
    task_page = staff_client.get(reverse("admin:orchestration_task_change", args=[setup.pk])).content.decode()

    assert "next try (attempt 2 of 5)" in order_page
    assert "1/5 (#6 overall)" in task_page


def test_a_retrying_steps_cause_reads_its_error_type(staff_client):
    """A cause that hangs on the exception's class (EffectInProgress) is shown while the step retries."""
    project = failing_order()
    run = project_latest_run(project)
    setup = run.tasks.get(step="setup")
    message = "email:site_live is being performed by w1:42; retry after its hold (280 s)"
    Task.objects.filter(pk=setup.pk).update(
        status=TaskStatus.QUEUED, run_after=clock.now() + timedelta(seconds=90), last_error=message
    )
    setup.agent_runs.update(error=message, error_type="EffectInProgress")
    WorkflowRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)

    order_page = staff_client.get(reverse("admin:orders_project_change", args=[project.pk])).content.decode()
    problem = order_page[order_page.index('id="problem"') :].split("</div>", 1)[0]

    assert "Last error of <b>setup</b>" in problem
    assert "Another attempt of this step is still sending its email or deploy" in problem


def test_provider_failures_of_two_actions_are_two_error_groups():
    """Every provider error is re-raised by agents.actions.common.provider_errors: it must not be
    the location of them all (one group mixing the AI's outage and Vercel's refusal)."""
    from agents.actions.common import provider_errors
    from agents.providers.errors import ProviderPermanentError, ProviderRetryableError
    from core.tracebacks import location_of

    def write_copy() -> None:
        with provider_errors():
            raise ProviderRetryableError("llm: POST /v1 failed: ConnectionError", provider="llm")

    def deploy_site() -> None:
        with provider_errors():
            raise ProviderPermanentError("vercel: HTTP 403 on POST /v13/deployments: forbidden", provider="vercel")

    locations = []
    for call in (write_copy, deploy_site):
        try:
            call()
        except Exception as exc:  # the engine catches every exception too
            locations.append(location_of(exc))

    assert locations == [
        "tests.integration.backoffice.test_incidents:write_copy",
        "tests.integration.backoffice.test_incidents:deploy_site",
    ]
