"""The order's brief as staff edit it in the admin (orders.admin.ProjectForm): what it saves, setup accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.actions.common import brief_data
from orders.admin import ProjectForm
from orders.brief import validate_brief
from orders.models import Project
from tests.support.briefs import FRENCH_LEGAL

pytestmark = pytest.mark.django_db


def form_data(project: Project, **changes: Any) -> dict[str, Any]:
    data = {
        "business_name": project.business_name,
        "sector": project.sector,
        "city": project.city,
        "description": project.description,
        "pages": "\n".join(project.pages),
        "brand_color": project.brand_color,
        "language": project.language,
        "contact_email": project.contact_email,
        "details": json.dumps(project.details),
    }
    return {**data, **changes}


@pytest.fixture
def english_order() -> Project:
    return Project.objects.create(
        business_name="Acme Plumbing", contact_email="hello@acme.example", language="en", pages=["Home"], details={}
    )


def test_switching_a_brief_to_french_without_its_legal_notice_fields_is_refused_naming_them(english_order):
    form = ProjectForm(data=form_data(english_order, language="fr"), instance=english_order)

    assert not form.is_valid()
    shown = " ".join(form.errors["details"])
    for name in ("legal.company_name", "legal.registration_number", "legal.publication_director", "phone"):
        assert f"{name}: Required for a French business site" in shown, name


def test_removing_a_french_briefs_legal_identity_is_refused(english_order):
    Project.objects.filter(id=english_order.id).update(language="fr", details=FRENCH_LEGAL)
    english_order.refresh_from_db()
    assert validate_brief(brief_data(english_order)) == {}
    details = {**FRENCH_LEGAL, "legal": {}}

    form = ProjectForm(data=form_data(english_order, details=json.dumps(details)), instance=english_order)

    assert not form.is_valid() and "legal.company_name" in " ".join(form.errors["details"])


def test_a_detail_setup_would_refuse_is_refused_in_the_admin_too(english_order):
    details = {"social_links": ["javascript:alert(1)"], "colour": "red"}

    form = ProjectForm(data=form_data(english_order, details=json.dumps(details)), instance=english_order)

    assert not form.is_valid()
    shown = " ".join(form.errors["details"])
    assert "social_links: 'javascript:alert(1)' is not an https:// link." in shown and "Unknown keys colour" in shown


def test_an_edit_setup_accepts_is_saved(english_order):
    form = ProjectForm(data=form_data(english_order, city="Leeds"), instance=english_order)

    assert form.is_valid(), form.errors
    form.save()
    english_order.refresh_from_db()
    assert english_order.city == "Leeds" and validate_brief(brief_data(english_order)) == {}
