"""Revisions: the customer asks for changes; the new version goes live while the old one stays up until then."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.test import Client

from agents.design import generate_design
from agents.revision import apply_feedback, sentences
from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import RunStatus
from orders.brief import Brief
from orders.models import Project, ProjectStatus, Revision, RevisionStatus
from tests.acceptance.journey.conftest import paid_through_checkout
from tests.support.briefs import FRENCH_LEGAL
from tests.support.orders import drive

pytestmark = pytest.mark.django_db

FEEDBACK_FR = (
    "Mettez la couleur en vert. Renommer la page « Services » en « Nos prestations ». Ajoutez une vidéo de la boutique."
)


def delivered(client: Client, fake: Any, **form: str) -> Project:
    project = paid_through_checkout(client, fake, **form)
    return drive(project)


def published(project: Project, name: str = "index.html") -> str:
    with default_storage.open(f"sites/{project.slug}/{name}") as fh:
        return fh.read().decode()


def brief(**overrides: Any) -> Brief:
    data = {
        "business_name": "Boulangerie Martin",
        "contact_email": "claire@example.com",
        "pages": ["Accueil", "Services", "Contact"],
        "brand_color": "#8a4b2a",
        "language": "fr",
        **FRENCH_LEGAL,
        **overrides,
    }
    return Brief.from_dict(data)


def design_output(b: Brief) -> dict[str, Any]:
    pages = [
        {
            "slug": "index" if i == 0 else title.lower(),
            "title": title,
            "nav_label": title,
            "meta_description": "Pain au levain à Lyon.",
            "hero": {"heading": f"{title} : pain artisanal", "subheading": "Depuis 1998", "cta_label": "Venir"},
            "sections": [{"heading": "Notre pain", "body": "Un pain artisanal au levain."}],
        }
        for i, title in enumerate(b.pages)
    ]
    return {"design": generate_design(b), "pages": pages}


# -- the offline design provider ---------------------------------------------------------------


def test_sentences_are_cut_outside_quotes_only() -> None:
    assert sentences('Remplacer "Pain. Levain" par "Pain". Merci beaucoup !') == [
        'Remplacer "Pain. Levain" par "Pain"',
        "Merci beaucoup",
    ]


def test_a_colour_a_page_title_and_a_phrase_are_applied_and_the_rest_is_said_back() -> None:
    b = brief()
    result = apply_feedback(
        feedback=FEEDBACK_FR + "\nRemplacer « artisanal » par « fait maison ».",
        brief=b,
        design_output=design_output(b),
    )
    assert result.brand_color == "#2e7d32"
    assert result.design["palette"] != generate_design(b)["palette"]
    assert [p["nav_label"] for p in result.pages] == ["Accueil", "Nos prestations", "Contact"]
    assert result.pages[1]["slug"] == "services", "a renamed page keeps its address"
    assert all("artisanal" not in str(p) for p in result.pages)
    assert "fait maison" in result.pages[0]["sections"][0]["body"]
    assert result.applied == [
        "Couleur principale : #2e7d32 (vert)",
        "Page « Services » renommée « Nos prestations »",
        "« artisanal » remplacé par « fait maison » (6 fois)",
    ]
    assert result.not_applied == [
        "« Ajoutez une vidéo de la boutique » : nous n'avons pas su l'appliquer automatiquement"
    ]


def test_a_request_about_nothing_on_the_site_is_said_back_not_dropped() -> None:
    b = brief(language="en", pages=["Home", "About"])
    result = apply_feedback(
        feedback='Rename the page "Blog" to "News"; replace "cheap" with "affordable"; #zzzzzz colour',
        brief=b,
        design_output=design_output(b),
    )
    assert result.applied == []
    assert result.not_applied == [
        '“Rename the page "Blog" to "News"”: no page is called “Blog”',
        '“replace "cheap" with "affordable"”: the phrase “cheap” does not appear on the site',
        "“#zzzzzz colour”: we could not apply this automatically",
    ]


def test_an_english_hex_colour_is_applied_with_accessible_contrast() -> None:
    b = brief(language="en", pages=["Home"])
    result = apply_feedback(feedback="Please use #ffee00 as the main colour.", brief=b, design_output=design_output(b))
    assert result.brand_color == "#ffee00" and result.applied == ["Main colour: #ffee00"]
    pairs = result.design["contrast_pairs"]
    assert pairs and all(pair["ratio"] >= 4.5 for pair in pairs), pairs


# -- the revision run --------------------------------------------------------------------------


def test_a_revision_goes_live_keeping_the_current_site_until_deployed(
    client: Client, fake_stripe: Any, django_capture_on_commit_callbacks: Any
) -> None:
    project = delivered(client, fake_stripe)
    before = published(project)
    assert "Nos prestations" not in before
    mail.outbox.clear()
    answer = client.post(f"/status/{project.status_token}/changes", {"feedback": FEEDBACK_FR})
    assert answer.status_code == 303
    revision = Revision.objects.get(project=project)
    assert revision.status == RevisionStatus.IN_PROGRESS and revision.run.workflow == "revision"
    # Step by step: until the deploy step runs, the published site is the old one.
    for _ in range(10):
        tick(budget=Budget.seconds(30), max_tasks=1)
        run = revision.run
        run.refresh_from_db()
        deploy = run.tasks.get(step="deploy")
        if deploy.status == "succeeded":
            break
        assert published(project) == before
        project.refresh_from_db()
        assert project.status == ProjectStatus.DELIVERED
        page = client.get(f"/status/{project.status_token}/").content.decode()
        assert "l&#x27;actuelle reste en ligne" in page
    drive_revision(revision)
    revision.refresh_from_db()
    project.refresh_from_db()
    assert revision.status == RevisionStatus.LIVE and revision.live_at is not None
    after = published(project)
    assert "Nos prestations" in after and after != before
    assert project.brand_color == "#2e7d32" and project.pages == ["Accueil", "Nos prestations", "Contact"]
    assert project.status == ProjectStatus.DELIVERED
    [email] = [m for m in mail.outbox if project.contact_email in m.to]
    assert "nouvelle version" in email.subject.lower()
    assert "Nos prestations" in email.body and "vidéo" in email.body and project.reference in email.body
    page = client.get(f"/status/{project.status_token}/").content.decode()
    assert "Page « Services » renommée « Nos prestations »" in page and "En ligne" in page
    assert "encore 1 modification comprise" in page


def drive_revision(revision: Revision) -> None:
    for _ in range(20):
        tick(budget=Budget.seconds(30))
        revision.run.refresh_from_db()
        if revision.run.status != RunStatus.RUNNING:
            return
    raise AssertionError("the revision run did not finish")


def test_two_revisions_are_included_one_at_a_time(client: Client, fake_stripe: Any, settings: Any) -> None:
    project = delivered(client, fake_stripe, language="en", lang="en")
    url = f"/status/{project.status_token}/changes"
    assert client.post(url, {"feedback": "Make the colour green."}).status_code == 303
    busy = client.post(url, {"feedback": "Make the colour red."})
    assert busy.status_code == 400 and b"A change is already being prepared" in busy.content
    drive_revision(Revision.objects.get(project=project, number=1))
    assert client.post(url, {"feedback": "Make the colour red."}).status_code == 303
    drive_revision(Revision.objects.get(project=project, number=2))
    third = client.post(url, {"feedback": "Make the colour blue."})
    assert third.status_code == 400 and b"Every included change has been used" in third.content
    assert Revision.objects.filter(project=project).count() == 2
    page = client.get(f"/status/{project.status_token}/").content.decode()
    assert 'id="changes-form"' not in page and "Your included changes have been used" in page


def test_changes_are_refused_before_delivery_and_when_empty(client: Client, fake_stripe: Any) -> None:
    project = paid_through_checkout(client, fake_stripe)
    url = f"/status/{project.status_token}/changes"
    early = client.post(url, {"feedback": "Plus de vert."})
    assert early.status_code == 400 and "une fois le site en ligne" in early.content.decode()
    drive(project)
    empty = client.post(url, {"feedback": "   "})
    assert empty.status_code == 400 and "Dites-nous ce qu" in empty.content.decode()
    assert not Revision.objects.exists()
