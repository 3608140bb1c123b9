"""VercelDeployProvider against the fake Vercel API; time is injected, nothing sleeps."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from agents.providers.deploy import VercelDeployProvider, get_deploy_provider
from agents.providers.errors import ProviderPermanentError, ProviderRetryableError
from agents.providers.http import is_retryable_status, parse_retry_after
from tests.support.fake_vercel import FakeVercel
from tests.support.provider_clock import FakeClock

SITE = {
    "index.html": b"<!doctype html><title>Accueil</title>",
    "contact.html": b"<!doctype html><title>Contact</title>",
    "assets/site.css": b"body{color:#123456}",
}
KEY = "run-42:deploy"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def fake(httpserver):
    return FakeVercel(httpserver)


def make(fake: FakeVercel, clock: FakeClock, **kwargs) -> VercelDeployProvider:
    return VercelDeployProvider(
        fake.token,
        team_id=fake.team_id,
        api_base=fake.url,
        sleep=clock.sleep,
        clock=clock,
        rng=lambda: 0.5,
        **kwargs,
    )


def test_vercel_deploy_sends_the_right_shape_and_returns_the_url(fake, clock):
    result = make(fake, clock).deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    (body,) = fake.create_bodies
    assert body["name"] == "boulangerie-martin"
    assert body["target"] == "production"
    assert body["meta"] == {"idempotencyKey": KEY, "siteSlug": "boulangerie-martin"}
    assert body["projectSettings"]["framework"] is None
    assert {f["file"]: base64.b64decode(f["data"]) for f in body["files"]} == SITE
    assert result.provider == "vercel"
    assert result.ready is True
    assert result.deployment_id == "dpl_000001"
    # The production alias is public; the per-deployment URL is behind Deployment Protection.
    assert result.url == "https://boulangerie-martin.vercel.app/"
    assert result.detail["deployment_url"] == "https://boulangerie-martin-000001.vercel.app"


def test_a_named_project_returns_its_production_url_not_the_protected_deployment_url(fake, clock):
    result = make(fake, clock, project_name="client-sites").deploy(
        slug="boulangerie-martin", files=SITE, idempotency_key=KEY
    )

    assert fake.create_bodies[0]["name"] == "client-sites"
    # The address the sitemap and Open Graph tags use (agents.actions.common.site_base_url).
    assert result.url == "https://client-sites.vercel.app/"
    assert result.detail["deployment_url"] == "https://client-sites-000001.vercel.app"


def test_the_alias_vercel_reports_wins_when_the_plain_name_was_taken(fake, clock):
    fake.alias_scope_suffix = "-acme"

    result = make(fake, clock, project_name="client-sites").deploy(
        slug="boulangerie-martin", files=SITE, idempotency_key=KEY
    )

    assert result.url == "https://client-sites-acme.vercel.app/"


def test_a_not_ready_deployment_only_has_its_own_url(fake, clock):
    fake.building_polls = 1000
    pending = make(fake, clock, project_name="client-sites", poll_timeout=3, poll_interval=3).deploy(
        slug="boulangerie-martin", files=SITE, idempotency_key=KEY
    )

    assert pending.ready is False
    assert pending.url == "https://client-sites-000001.vercel.app/"


def test_no_team_id_sends_no_team_param(httpserver, clock):
    fake = FakeVercel(httpserver, team_id=None)

    result = make(fake, clock).deploy(slug="garage-dupont", files=SITE, idempotency_key=KEY)

    assert result.ready is True


def test_retry_after_a_lost_create_response_does_not_create_a_second_deployment(fake, clock):
    fake.lose_next_create()

    result = make(fake, clock).deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert len(fake.create_bodies) == 1
    assert len(fake.deployments) == 1
    assert result.ready is True
    assert result.detail["reused"] is True


def test_engine_retry_after_a_failed_create_reuses_the_deployment(fake, clock):
    fake.lose_next_create()
    provider = make(fake, clock, create_attempts=1)
    with pytest.raises(ProviderRetryableError):
        provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    result = provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert len(fake.deployments) == 1
    assert result.deployment_id == "dpl_000001"


def test_a_500_on_create_is_retried_and_creates_one_deployment(fake, clock):
    fake.fail_next(1, 500, path="/v13/deployments")

    result = make(fake, clock).deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert result.ready is True
    assert len(fake.deployments) == 1
    assert len(clock.sleeps) == 2  # one backoff, then one poll while the deployment is QUEUED


def test_429_with_retry_after_is_retried_within_bounds(fake, clock):
    fake.fail_next(2, 429, retry_after="7", path="/v6/deployments")

    result = make(fake, clock).deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert result.ready is True
    retry_waits, poll_waits = clock.sleeps[:2], clock.sleeps[2:]
    assert all(7 <= s <= 7 + 0.5 for s in retry_waits)  # Retry-After plus at most base_delay of jitter
    assert poll_waits == [3.0]


def test_retry_after_beyond_the_cap_is_left_to_the_engine(fake, clock):
    fake.fail_next(1, 429, retry_after="3600")

    with pytest.raises(ProviderRetryableError) as caught:
        make(fake, clock).deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert caught.value.retry_after == 3600
    assert clock.sleeps == []


def test_persistent_5xx_gives_up_after_bounded_attempts_as_retryable(fake, clock):
    fake.fail_next(50, 503)

    with pytest.raises(ProviderRetryableError) as caught:
        make(fake, clock).deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert caught.value.status == 503
    assert len(fake.calls) == 4  # RetryPolicy.max_attempts of the first lookup
    assert fake.deployments == {}


def test_401_raises_permanent_without_the_token_appearing_in_the_message(fake, clock):
    fake.reject_auth(401)

    with pytest.raises(ProviderPermanentError) as caught:
        make(fake, clock).deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert caught.value.status == 401
    assert fake.token not in str(caught.value)
    assert fake.token not in repr(caught.value.args)
    assert len(fake.calls) == 1  # bad credentials are not retried


def test_a_wrong_token_is_permanent(fake, clock):
    provider = VercelDeployProvider("wrong-token", team_id=fake.team_id, api_base=fake.url, sleep=clock.sleep)

    with pytest.raises(ProviderPermanentError, match="403"):
        provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)
    assert "wrong-token" not in repr(provider)


@pytest.mark.parametrize("state", ["ERROR", "CANCELED"])
def test_error_or_canceled_ready_state_is_permanent_with_the_reason(fake, clock, state):
    fake.final_state = state

    with pytest.raises(ProviderPermanentError, match="Command failed with exit code 1") as caught:
        make(fake, clock).deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert caught.value.code == "BUILD_FAILED"


def test_still_building_at_the_end_of_the_budget_returns_not_ready_and_the_retry_reuses_it(fake, clock):
    fake.building_polls = 1000
    provider = make(fake, clock, poll_timeout=10, poll_interval=3)

    pending = provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert pending.ready is False
    assert sum(clock.sleeps) == pytest.approx(10)
    fake.building_polls = 0
    done = provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)
    assert done.ready is True
    assert done.deployment_id == pending.deployment_id
    assert len(fake.create_bodies) == 1


def test_lookup_matches_meta_client_side_across_pages_when_the_filter_is_ignored(fake, clock):
    fake.honour_meta_filter = False
    fake.page_size = 2
    ours = fake.add_deployment("boulangerie-martin", {"idempotencyKey": KEY})
    for n in range(5):
        fake.add_deployment("boulangerie-martin", {"idempotencyKey": f"other-{n}"})

    result = make(fake, clock).deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert result.deployment_id == ours["id"]
    assert fake.create_bodies == []


def test_a_failed_earlier_deployment_is_not_reused(fake, clock):
    fake.add_deployment("boulangerie-martin", {"idempotencyKey": KEY}, state="ERROR")

    result = make(fake, clock).deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert result.ready is True
    assert len(fake.create_bodies) == 1


def test_large_sites_upload_files_by_sha_and_keep_the_create_body_small(fake, clock):
    big = os.urandom(3_500_000)  # inline base64 would pass Vercel's 4.5 MB body limit
    files = {**SITE, "assets/hero.jpg": big}

    result = make(fake, clock).deploy(slug="boulangerie-martin", files=files, idempotency_key=KEY)

    assert result.ready is True
    entries = {f["file"]: f for f in fake.create_bodies[0]["files"]}
    digest = hashlib.sha1(big).hexdigest()  # noqa: S324
    assert entries["assets/hero.jpg"] == {"file": "assets/hero.jpg", "sha": digest, "size": len(big)}
    assert fake.uploads[digest] == big
    assert set(fake.uploads) == {hashlib.sha1(d).hexdigest() for d in files.values()}  # noqa: S324


def test_connection_errors_are_retryable_and_bounded(clock):
    provider = VercelDeployProvider("tok-secret", api_base="http://127.0.0.1:9", sleep=clock.sleep, timeout=2)

    with pytest.raises(ProviderRetryableError) as caught:
        provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key=KEY)

    assert len(clock.sleeps) == 3
    assert "tok-secret" not in str(caught.value)


def test_bad_input_is_refused_before_any_call(fake, clock):
    with pytest.raises(ProviderPermanentError, match="invalid site file path"):
        make(fake, clock).deploy(slug="boulangerie-martin", files={"../x": b"x"}, idempotency_key=KEY)
    assert fake.calls == []


def test_get_deploy_provider_vercel_without_token_names_vercel_token(settings):
    settings.DEPLOY_PROVIDER = "vercel"
    settings.VERCEL_TOKEN = ""

    with pytest.raises(ImproperlyConfigured, match="VERCEL_TOKEN"):
        get_deploy_provider()


def test_get_deploy_provider_builds_vercel_from_settings(settings):
    settings.DEPLOY_PROVIDER = "vercel"
    settings.VERCEL_TOKEN = "tok"
    settings.VERCEL_TEAM_ID = "team_1"
    settings.VERCEL_PROJECT = "client-sites"
    settings.VERCEL_API_BASE = "http://127.0.0.1:1/"

    provider = get_deploy_provider()

    assert isinstance(provider, VercelDeployProvider)
    assert (provider.team_id, provider.project_name, provider.api_base) == (
        "team_1",
        "client-sites",
        "http://127.0.0.1:1",
    )


def test_unknown_deploy_provider_is_improperly_configured(settings):
    settings.DEPLOY_PROVIDER = "netlify"

    with pytest.raises(ImproperlyConfigured, match="DEPLOY_PROVIDER"):
        get_deploy_provider()


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *[(400, False), (401, False), (403, False), (404, False), (422, False), (501, False)],
        *[(408, True), (429, True), (500, True), (502, True), (503, True), (504, True)],
    ],
)
def test_status_classification(status, retryable):
    assert is_retryable_status(status) is retryable


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=lambda: 1445412480.0) == 10
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
