"""A guard over every model the admin shows: audit records have no Delete anywhere, and every
field an admin declares read-only is shown, never offered as an input, nor changed by a POST.

New admins are covered without editing this file: every registered model must have a row in
`one_of_each` (the test fails naming the model otherwise).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token, TokenProxy

from agents.models import ContactMessage, StoredFile
from gateway.models import EventSource, EventStatus, SignedRequest, WebhookEvent
from metrics.models import AlertNotice, ErrorGroup, Rollup
from orchestration.models import AgentRun, OperatorAction, SideEffect, Task, WorkflowRun
from orchestration.services import Actor, run_replay
from orders.models import CustomerEmail, Project, ProjectStatus, Refund, Revision

# Records of what happened: who did what, what was received, what ran, what went wrong.
AUDIT = (
    AgentRun,
    OperatorAction,
    WebhookEvent,
    SideEffect,
    ErrorGroup,
    AlertNotice,
    Rollup,
    WorkflowRun,
    Task,
    Refund,
    Revision,
    CustomerEmail,
    SignedRequest,
)


@pytest.fixture
def one_of_each(failed_order, superuser, flag) -> dict[type[Model], Model]:
    project, run = failed_order
    flag.touch()
    run_replay(run=run, actor=Actor.of_user(superuser), mode="failed")
    now = timezone.now()
    rows: dict[type[Model], Model] = {
        Project: project,
        WorkflowRun: run,
        Task: run.tasks.first(),
        AgentRun: AgentRun.objects.filter(run=run).first(),
        OperatorAction: OperatorAction.objects.filter(run=run).first(),
        ErrorGroup: ErrorGroup.objects.first(),
        WebhookEvent: WebhookEvent.objects.create(
            source=EventSource.STRIPE,
            external_id="evt_guard",
            type="checkout.session.completed",
            payload={"id": "evt_guard"},
            signature_ok=True,
            status=EventStatus.REJECTED,
            outcome="wrong_amount: paid 100 'eur', the price is 39900 'eur'",
            received_at=now,
        ),
        SideEffect: SideEffect.objects.create(key="guard:email", kind="email:payment_received", subject=project),
        StoredFile: StoredFile.objects.create(name="sites/guard/a.html", content=b"<p>", size=3, modified_at=now),
        Rollup: Rollup.objects.create(window_start=now, window_end=now + timedelta(minutes=5), computed_at=now),
        AlertNotice: AlertNotice.objects.create(window_start=now, alerts=[], created_at=now),
        Refund: Refund.objects.create(
            project=project,
            source=Refund.Source.STAFF,
            idempotency_key=f"refund:{project.id}",
            amount_cents=39900,
            currency="eur",
            requested_by=superuser,
        ),
        Revision: Revision.objects.create(project=project, number=1, feedback="Use a darker blue."),
        CustomerEmail: CustomerEmail.objects.create(
            key=f"order_failed:{project.id}", project=project, kind="order_failed"
        ),
        ContactMessage: ContactMessage.objects.create(
            project=project, name="Visitor", email="visitor@example.com", message="Hello", digest="guard"
        ),
        SignedRequest: SignedRequest.objects.create(
            route="/api/workflows/execute", webhook_id="msg_guard", received_at=now
        ),
        User: superuser,
        Group: Group.objects.create(name="support"),
    }
    token = Token.objects.create(user=superuser)
    rows[TokenProxy] = TokenProxy.objects.get(pk=token.pk)
    return rows


def registered() -> list[tuple[type[Model], admin.ModelAdmin]]:
    return list(admin.site._registry.items())


def form_inputs(html: str) -> set[str]:
    return set(re.findall(r'<(?:input|select|textarea)[^>]*\sname="([^"]+)"', html))


def test_every_registered_model_is_covered(one_of_each):
    missing = [model._meta.label for model, _ in registered() if model not in one_of_each]
    assert not missing, f"add a row of each to one_of_each: {missing}"


def test_audit_records_have_no_delete_anywhere(one_of_each, staff_client: Client, rf, superuser):
    request = rf.get("/admin/")
    request.user = superuser
    for model in AUDIT:
        model_admin = admin.site._registry[model]
        obj = one_of_each[model]
        label = model._meta.label
        assert not model_admin.has_delete_permission(request), label
        assert not model_admin.has_delete_permission(request, obj), label
        assert "delete_selected" not in model_admin.get_actions(request), label
        info = (model._meta.app_label, model._meta.model_name)
        page = staff_client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
        assert page.status_code == 200, label
        assert "deletelink" not in page.content.decode(), label
        delete = staff_client.post(reverse("admin:{}_{}_delete".format(*info), args=[obj.pk]), {"post": "yes"})
        assert delete.status_code == 403, label
        assert model.objects.filter(pk=obj.pk).exists(), label


def test_every_read_only_field_is_shown_read_only(one_of_each, staff_client: Client, rf, superuser):
    request = rf.get("/admin/")
    request.user = superuser
    for model, model_admin in registered():
        obj = one_of_each[model]
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
        page = staff_client.get(url)
        assert page.status_code == 200, model._meta.label
        inputs = form_inputs(page.content.decode())
        offered = set(model_admin.get_readonly_fields(request, obj)) & inputs
        assert not offered, f"{model._meta.label} offers read-only fields as inputs: {sorted(offered)}"


def test_an_order_cannot_be_marked_delivered_nor_given_a_site_by_hand(one_of_each, staff_client: Client):
    project = one_of_each[Project]
    url = reverse("admin:orders_project_change", args=[project.pk])
    fields = {
        "business_name": project.business_name,
        "contact_email": project.contact_email,
        "sector": project.sector,
        "city": project.city,
        "description": project.description,
        "pages": "Home\nAbout",
        "brand_color": project.brand_color,
        # English: this French order carries no legal-notice fields, which the form (like setup) would refuse.
        "language": "en",
        # The order page's inlines (refund, revisions) are read-only, but a change form posts their counts.
        "refund-TOTAL_FORMS": "0",
        "refund-INITIAL_FORMS": "0",
        "revisions-TOTAL_FORMS": "0",
        "revisions-INITIAL_FORMS": "0",
    }

    response = staff_client.post(
        url, {**fields, "status": "delivered", "slug": "hijacked", "site_url": "https://evil.example"}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert project.status != ProjectStatus.DELIVERED
    assert project.slug != "hijacked" and project.site_url == ""
    assert project.pages == ["Home", "About"]  # the pages, edited as lines, stored as the list


def test_a_brief_saved_by_staff_is_checked_like_the_api_checks_it(one_of_each, staff_client: Client):
    project = one_of_each[Project]
    url = reverse("admin:orders_project_change", args=[project.pk])
    bad: dict[str, Any] = {
        "business_name": project.business_name,
        "contact_email": project.contact_email,
        "pages": "",
        "brand_color": "red",
        "language": "fr",
    }

    page = staff_client.post(url, bad)

    assert page.status_code == 200  # the form again, with the errors
    assert "brand_color" in page.context["adminform"].form.errors
    project.refresh_from_db()
    assert project.brand_color != "red"
