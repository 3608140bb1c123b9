"""ChatCompletionsCopywriter against the fake chat-completions server; nothing sleeps."""

from __future__ import annotations

import copy
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from agents.page_copy import PAGE_COPY_SCHEMA, page_copy_problems, page_slugs, validate_page_copy
from agents.providers.errors import ProviderPermanentError, ProviderRetryableError
from agents.providers.http import HttpRetryPolicy
from agents.providers.llm import ChatCompletionsCopywriter, get_llm_copywriter
from tests.support.fake_openai import SAMPLE_COPY, FakeOpenAI
from tests.support.provider_clock import FakeClock

ROOT = Path(__file__).resolve().parents[3]
KEY = "run-42:design:page-0"
DESIGN = {"palette": {"primary": "#8a4b2a"}, "fonts": {"heading": "Fraunces"}, "tone": "chaleureux"}


@dataclass(frozen=True)
class Brief:
    business_name: str = "Boulangerie Martin"
    sector: str = "boulangerie"
    city: str = "Lyon"
    description: str = "Pain au levain, viennoiseries pur beurre, gâteaux sur commande."
    pages: tuple[str, ...] = ("Accueil", "À propos", "Contact")
    brand_color: str = "#8a4b2a"
    language: str = "fr"
    contact_email: str = "contact@boulangerie-martin.fr"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def fake(httpserver):
    return FakeOpenAI(httpserver)


def make(fake: FakeOpenAI, clock: FakeClock, **kwargs) -> ChatCompletionsCopywriter:
    return ChatCompletionsCopywriter(
        fake.base_url, fake.api_key, fake.model, sleep=clock.sleep, rng=lambda: 0.0, **kwargs
    )


def write(writer: ChatCompletionsCopywriter, brief: Brief | None = None, page: str = "Accueil", index: int = 0):
    return writer.write_page(brief=brief or Brief(), design=DESIGN, page=page, index=index, idempotency_key=KEY)


def test_llm_client_returns_validated_copy(fake, clock):
    result = write(make(fake, clock))

    assert result == SAMPLE_COPY
    (request,) = fake.requests
    assert request["model"] == "gpt-4o-mini"
    assert request["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "page_copy", "strict": True, "schema": PAGE_COPY_SCHEMA},
    }
    system, user = request["messages"]
    assert system["role"] == "system" and "en français" in system["content"]
    assert "Boulangerie Martin" in user["content"] and "Lyon" in user["content"]
    assert "« Accueil »" in user["content"] and "page d'accueil" in user["content"]


def test_prompt_is_in_english_for_english_briefs(fake, clock):
    write(make(fake, clock), Brief(language="en", pages=("Home", "Services")), page="Services", index=1)

    system, user = fake.requests[0]["messages"]
    assert "Write in English" in system["content"]
    assert "Write the page 'Services' (page 2 of 2)" in user["content"]


def test_llm_client_sends_the_idempotency_key_header(fake, clock):
    write(make(fake, clock))

    assert fake.idempotency_keys == [KEY]


def test_model_slug_is_replaced_by_a_slug_of_the_page_name(fake, clock):
    fake.copy["slug"] = "Weird Slug!"

    result = write(make(fake, clock), page="À propos", index=1)

    assert result["slug"] == "a-propos"
    assert len(fake.requests) == 1  # the model's slug is not a reason to ask again


def test_a_page_name_with_an_underscore_still_gets_a_valid_slug(fake, clock):
    result = write(make(fake, clock), page="Prix_2026", index=1)

    assert result["slug"] == "prix-2026"
    assert len(fake.requests) == 1


def test_llm_client_reasks_on_malformed_json_within_a_bound(fake, clock):
    fake.script("malformed")

    result = write(make(fake, clock))

    assert result == SAMPLE_COPY
    assert fake.idempotency_keys == [KEY, f"{KEY}:reask-1"]
    *_, bad_answer, reask = fake.requests[1]["messages"]
    assert bad_answer["role"] == "assistant" and bad_answer["content"].startswith('{"slug"')
    assert "malformed JSON" in reask["content"]


def test_wrong_shape_is_reasked_with_the_validation_errors(fake, clock):
    fake.script("wrong_shape")

    write(make(fake, clock))

    reask = fake.requests[1]["messages"][-1]["content"]
    assert "$.sections has 1 items" in reask or "$.sections[0].body is missing" in reask


def test_a_text_past_its_limit_is_reasked_not_left_to_fail_the_step(fake, clock):
    fake.script("too_long")

    result = write(make(fake, clock))

    assert result == SAMPLE_COPY
    reask = fake.requests[1]["messages"][-1]["content"]
    assert "$.title has 131 characters, max 120" in reask


def test_llm_client_gives_up_as_permanent_after_bounded_reasks(fake, clock):
    fake.script("malformed", "wrong_shape", "malformed")

    with pytest.raises(ProviderPermanentError, match="after 3 answers") as caught:
        write(make(fake, clock, max_reasks=2))

    assert caught.value.code == "invalid_output"
    assert len(fake.requests) == 3


def test_llm_401_is_permanent_and_never_shows_the_key(fake, clock):
    fake.script("unauthorized")

    with pytest.raises(ProviderPermanentError) as caught:
        write(make(fake, clock))

    assert caught.value.status == 401
    assert "invalid_api_key" in str(caught.value)
    assert fake.api_key not in str(caught.value)
    assert len(fake.idempotency_keys) == 1  # no retry on bad credentials


def test_llm_429_then_success_is_retried_with_the_same_idempotency_key(fake, clock):
    fake.script("rate_limited")

    result = write(make(fake, clock))

    assert result == SAMPLE_COPY
    assert clock.sleeps == [2.0]  # Retry-After: 2, no jitter with rng=0
    assert fake.idempotency_keys == [KEY, KEY]


def test_a_refusal_is_permanent(fake, clock):
    fake.script("refusal")

    with pytest.raises(ProviderPermanentError, match="refused"):
        write(make(fake, clock))


@pytest.fixture
def threaded_fake():
    """A fake that answers requests in parallel: a slow answer must not hold up the client's retry."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield FakeOpenAI(server, slow_seconds=1.5)
    finally:
        server.clear()
        server.stop()


def test_a_slow_server_hits_the_timeout_is_retried_and_is_then_reported_retryable(threaded_fake, clock):
    threaded_fake.script("slow", "slow", "slow")
    writer = make(
        threaded_fake, clock, timeout=0.4, retry=HttpRetryPolicy(max_attempts=3, base_delay=0.5, max_delay=2.0)
    )

    with pytest.raises(ProviderRetryableError, match="Timeout") as caught:
        write(writer)

    threaded_fake.wait_answered(3)
    assert caught.value.retryable and caught.value.provider == "llm"
    assert threaded_fake.idempotency_keys == [KEY] * 3, "each try is the same request, under the same key"
    assert len(clock.sleeps) == 2
    assert threaded_fake.api_key not in str(caught.value)


def test_a_slow_answer_is_abandoned_and_the_retry_succeeds(threaded_fake, clock):
    threaded_fake.script("slow")

    result = write(make(threaded_fake, clock, timeout=0.4))

    threaded_fake.wait_answered(2)
    assert result == SAMPLE_COPY
    assert threaded_fake.idempotency_keys == [KEY, KEY]


def test_the_timeout_comes_from_llm_timeout_seconds(settings):
    settings.LLM_BASE_URL = "http://127.0.0.1:1/v1"
    settings.LLM_API_KEY = "sk-x"
    settings.LLM_TIMEOUT_SECONDS = 7.5

    assert get_llm_copywriter().http.timeout == 7.5


def rising(fake: FakeOpenAI, clock: FakeClock, **policy: float) -> ChatCompletionsCopywriter:
    """A writer whose jitter is always at its ceiling, so the sleeps show the backoff curve itself."""
    return ChatCompletionsCopywriter(
        fake.base_url, fake.api_key, fake.model, sleep=clock.sleep, rng=lambda: 1.0, retry=HttpRetryPolicy(**policy)
    )


def test_5xx_answers_are_retried_with_exponential_capped_backoff(fake, clock):
    fake.script("server_error", "bad_gateway", "server_error")

    result = write(rising(fake, clock, max_attempts=4, base_delay=0.5, max_delay=1.0))

    assert result == SAMPLE_COPY
    assert clock.sleeps == [0.5, 1.0, 1.0]  # doubles, then stays at the cap
    assert fake.idempotency_keys == [KEY] * 4


def test_persistent_5xx_gives_up_after_the_last_attempt_as_retryable(fake, clock):
    fake.script(*["server_error"] * 6)

    with pytest.raises(ProviderRetryableError) as caught:
        write(rising(fake, clock, max_attempts=4, base_delay=0.5, max_delay=8.0))

    assert caught.value.status == 500 and "server_error" in str(caught.value)
    assert len(fake.idempotency_keys) == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert sum(clock.sleeps) <= 3 * 8.0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_errors_are_retried_with_bounded_backoff_then_reported_retryable(clock):
    writer = ChatCompletionsCopywriter(
        f"http://127.0.0.1:{_closed_port()}/v1",
        "sk-secret-key",
        "gpt-4o-mini",
        timeout=2,
        sleep=clock.sleep,
        rng=lambda: 1.0,
        retry=HttpRetryPolicy(max_attempts=4, base_delay=0.5, max_delay=1.5),
    )

    with pytest.raises(ProviderRetryableError, match="ConnectionError") as caught:
        write(writer)

    assert clock.sleeps == [0.5, 1.0, 1.5]
    assert "sk-secret-key" not in str(caught.value)


def test_get_llm_copywriter_needs_base_url_and_key(settings):
    settings.LLM_BASE_URL = ""
    settings.LLM_API_KEY = "sk-x"
    assert get_llm_copywriter() is None

    settings.LLM_BASE_URL = "http://127.0.0.1:1/v1/"
    writer = get_llm_copywriter()

    assert isinstance(writer, ChatCompletionsCopywriter)
    assert writer.url == "http://127.0.0.1:1/v1/chat/completions"
    assert writer.model == "gpt-4o-mini"
    assert "sk-x" not in repr(writer)


def _broken(**changes):
    value = copy.deepcopy(SAMPLE_COPY)
    for path, new in changes.items():
        target = value
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[int(parent)] if parent.isdigit() else target[parent]
        if new is KeyError:
            del target[leaf]
        else:
            target[leaf] = new
    return value


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (_broken(meta_description="x" * 161), "$.meta_description has 161 characters"),
        (_broken(sections=SAMPLE_COPY["sections"][:1]), "$.sections has 1 items"),
        (_broken(sections=SAMPLE_COPY["sections"] * 3), "$.sections has 6 items"),
        (_broken(hero__cta_label=KeyError), "$.hero.cta_label is missing"),
        (_broken(title="x" * 121), "$.title has 121 characters, max 120"),
        (_broken(sections__0__body=KeyError), "$.sections[0].body is missing"),
        (_broken(slug="Not A Slug"), "$.slug must be lowercase ASCII letters"),
        (_broken(title="   "), "$.title must not be empty"),
        (_broken(sections="none"), "$.sections must be an array"),
        (["not", "an", "object"], "$ must be an object"),
    ],
)
def test_validator_names_each_problem(value, error):
    assert any(message.startswith(error) for message in page_copy_problems(value))
    with pytest.raises(ValueError, match=re.escape(error)):
        validate_page_copy(value)


def test_validator_accepts_the_sample_and_leaves_unknown_keys_out():
    assert page_copy_problems(SAMPLE_COPY) == []
    assert page_copy_problems({**SAMPLE_COPY, "extra": "x"}) == []
    assert validate_page_copy({**SAMPLE_COPY, "extra": "x"}) == SAMPLE_COPY


@pytest.mark.parametrize("value", ["soon", "0", "-3", "900"])
def test_a_bad_llm_timeout_stops_start_up_naming_the_variable(value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    env.update({"LLM_TIMEOUT_SECONDS": value, "DEBUG": "1", "PYTHONPATH": str(ROOT)})
    check = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"], env=env, cwd=ROOT, capture_output=True, text=True
    )

    assert check.returncode != 0
    assert "ImproperlyConfigured" in check.stderr and "LLM_TIMEOUT_SECONDS" in check.stderr


def test_a_model_writes_each_page_under_the_slug_the_offline_writer_gives_it(fake, clock):
    # One rule for both writers (agents.page_copy.slug_of_page): the home page is 'index', a
    # reserved name gets a suffix, two pages of one name get two slugs.
    pages = ("Accueil", "Assets", "Tarifs", "Tarifs")
    brief = Brief(pages=pages)
    writer = make(fake, clock)
    slugs = [write(writer, brief, page=page, index=index)["slug"] for index, page in enumerate(pages)]
    assert slugs == page_slugs(list(pages)) == ["index", "assets-page", "tarifs", "tarifs-2"]
