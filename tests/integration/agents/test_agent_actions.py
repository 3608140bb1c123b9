"""The agents' actions with their real providers switched on, against the local fake servers:
design-ia.generate writing copy through the chat-completions API, automation.deploy publishing to Vercel."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from orchestration.budget import Budget
from orchestration.execution import tick
from orchestration.models import RunStatus, TaskStatus
from orders.models import ProjectStatus
from tests.support.briefs import load_briefs
from tests.support.fake_openai import SAMPLE_COPY, FakeOpenAI
from tests.support.fake_vercel import FakeVercel
from tests.support.orders import drive, place_order, run_order, step_outputs, step_tasks

pytestmark = pytest.mark.django_db

BAKERY = load_briefs()[0]  # Accueil, Nos pains, Pâtisseries, Contact


@pytest.fixture(autouse=True)
def offline_defaults(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.DEPLOY_PROVIDER = "local"
    settings.LLM_BASE_URL = ""
    settings.STATIC_ROOT = str(tmp_path / "static")  # WhiteNoise warns when it is missing
    (tmp_path / "static").mkdir()


@pytest.fixture
def llm(httpserver, settings) -> FakeOpenAI:
    fake = FakeOpenAI(httpserver)
    settings.LLM_BASE_URL = fake.base_url
    settings.LLM_API_KEY = fake.api_key
    settings.LLM_MODEL = fake.model
    settings.LLM_TIMEOUT_SECONDS = 5.0
    return fake


@pytest.fixture
def vercel(httpserver, settings) -> FakeVercel:
    fake = FakeVercel(httpserver)
    settings.DEPLOY_PROVIDER = "vercel"
    settings.VERCEL_TOKEN = fake.token
    settings.VERCEL_TEAM_ID = fake.team_id
    settings.VERCEL_PROJECT = ""
    settings.VERCEL_API_BASE = fake.url
    settings.VERCEL_POLL_SECONDS = 0.01
    return fake


# -- design-ia.generate with the LLM provider -------------------------------------------------------


def test_design_writes_every_page_through_the_chat_completions_api(llm):
    project = place_order(BAKERY)
    tick(budget=Budget.seconds(60), max_tasks=2)  # setup, then design

    design = step_tasks(project)["design"]
    assert design.status == TaskStatus.SUCCEEDED and design.attempt == 1
    output = design.output
    assert output["copywriter"] == "llm"
    # The model's words, our slugs: navigation never depends on how the model spells a slug.
    assert [p["slug"] for p in output["pages"]] == ["index", "nos-pains", "patisseries", "contact"]
    assert all(p["hero"]["heading"] == SAMPLE_COPY["hero"]["heading"] for p in output["pages"])
    assert len(llm.requests) == 4
    asked = [r["messages"][1]["content"] for r in llm.requests]
    for title, prompt in zip(BAKERY["pages"], asked, strict=True):
        assert f"« {title} »" in prompt and "Boulangerie Martin" in prompt and "Lyon" in prompt
    # One key per page, all derived from the task's key: the provider can dedupe a retried page.
    assert len(set(llm.idempotency_keys)) == 4
    assert all(key.startswith(f"{design.idempotency_key}:page") for key in llm.idempotency_keys)


def test_an_order_with_llm_copy_publishes_that_copy(llm, client):
    project = run_order(BAKERY)

    assert project.status == ProjectStatus.DELIVERED
    page = client.get(f"/sites/{project.slug}/nos-pains.html").content.decode()
    assert SAMPLE_COPY["hero"]["heading"] in page


def test_design_retried_after_a_model_outage_does_not_pay_twice_for_the_pages_it_had(llm, clock):
    llm.script("ok", "ok", *["server_error"] * 4)  # pages 1 and 2 answer, page 3 meets a 4-try outage
    project = place_order(BAKERY)

    tick(budget=Budget.seconds(60))
    design = step_tasks(project)["design"]
    assert (design.status, design.attempt) == (TaskStatus.QUEUED, 1)
    assert "HTTP 500" in design.last_error
    clock.advance(600)
    drive(project)

    design = step_tasks(project)["design"]
    assert (design.status, design.attempt) == (TaskStatus.SUCCEEDED, 2)
    assert len(llm.requests) == 2 + 2, "pages 1 and 2 were not asked again"


def test_bad_llm_credentials_fail_the_design_for_good_in_one_attempt(llm):
    llm.api_key = "sk-another-key"  # the server now refuses the key the settings hold
    project = drive(place_order(BAKERY))

    design = step_tasks(project)["design"]
    assert project.status == ProjectStatus.FAILED
    assert (design.status, design.attempt) == (TaskStatus.DEAD, 1)
    assert "401" in design.last_error and "invalid_api_key" in design.last_error
    assert project.runs.get().status == RunStatus.FAILED


# -- automation.deploy with the Vercel provider -------------------------------------------------------


def test_deploy_to_a_named_vercel_project_stores_its_production_url(vercel, settings):
    settings.VERCEL_PROJECT = "client-sites"
    vercel.lose_next_create()  # the create's answer is lost: the retry must find it, not deploy twice

    project = run_order(BAKERY)

    assert project.status == ProjectStatus.DELIVERED
    assert project.site_url == "https://client-sites.vercel.app/"
    outputs = step_outputs(project)
    assert outputs["deploy"]["provider"] == "vercel"
    assert outputs["deploy"]["url"] == project.site_url
    (body,) = vercel.create_bodies
    assert body["name"] == "client-sites" and body["target"] == "production"
    assert body["meta"]["idempotencyKey"] == step_tasks(project)["deploy"].idempotency_key
    files = {f["file"]: base64.b64decode(f["data"]).decode() for f in body["files"]}
    assert set(files) == set(outputs["build"]["files"])
    # Sitemap, Open Graph and the ads point where the customer is sent: the production domain.
    assert "<loc>https://client-sites.vercel.app/</loc>" in files["sitemap.xml"]
    assert '<meta property="og:url" content="https://client-sites.vercel.app/">' in files["index.html"]
    assert "https://client-sites.vercel.app/" in outputs["campaign"]["csv"]
    live = mail.outbox[-1]
    assert project.site_url in live.body
    assert "client-sites-0000" not in live.body, "never the per-deployment URL behind Deployment Protection"


def test_deploy_without_a_named_project_gets_one_vercel_project_per_site(vercel):
    project = run_order(load_briefs()[1])

    assert project.status == ProjectStatus.DELIVERED
    assert project.site_url == f"https://{project.slug}.vercel.app/"
    assert vercel.create_bodies[0]["name"] == project.slug


def test_a_rejected_vercel_token_fails_the_deploy_for_good(vercel):
    vercel.reject_auth(403)

    project = drive(place_order(BAKERY))

    deploy = step_tasks(project)["deploy"]
    assert project.status == ProjectStatus.FAILED
    assert (deploy.status, deploy.attempt) == (TaskStatus.DEAD, 1)
    assert vercel.token not in deploy.last_error
    assert project.site_url == ""
