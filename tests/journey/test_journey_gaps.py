"""Gaps an outside review of the customer's journey found (repros in the review's attack scripts), each fixed."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client

from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import Task
from orchestration.services import Actor, run_replay
from orders.models import CustomerEmail, Project, ProjectStatus, Revision, RevisionStatus
from tests.agents.orders import drive
from tests.journey.conftest import paid_through_checkout
from tests.journey.fake_stripe import FakeStripe

pytestmark = pytest.mark.django_db


def customer_mails(project: Project) -> list[Any]:
    return [m for m in mail.outbox if project.contact_email in m.to]


def ticks(n: int = 10) -> None:
    for _ in range(n):
        tick(budget=Budget.seconds(10))


# -- a revision that fails for good --------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "words"),
    [("fr", "Votre site actuel reste en ligne"), ("en", "Your current site stays live")],
)
def test_a_failed_revision_emails_the_customer_once_in_their_language(
    client: Client, fake_stripe: FakeStripe, django_capture_on_commit_callbacks: Any, language: str, words: str
) -> None:
    project = drive(paid_through_checkout(client, fake_stripe, language=language, lang=language))
    assert project.status == ProjectStatus.DELIVERED
    # The delivered design is gone: the revision's design step fails for good.
    Task.objects.filter(run__project=project, step="design").update(output={})
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/status/{project.status_token}/changes", {"feedback": "Mettez la couleur en vert."})
        ticks()
    revision = Revision.objects.get(project=project)
    assert revision.status == RevisionStatus.FAILED
    [email] = customer_mails(project)
    assert words in email.body and project.reference in email.body
    assert ("399,00" if language == "fr" else "€399.00") in email.body
    assert "hello@studio.example" in email.body and project.site_url in email.body
    # Replayed by staff and failed again: still one email.
    with django_capture_on_commit_callbacks(execute=True):
        run_replay(run=revision.run, actor=Actor(label="test"))
        ticks()
    assert len(customer_mails(project)) == 1
    assert CustomerEmail.objects.filter(project=project, kind="revision_failed").count() == 1
