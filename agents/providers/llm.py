"""Page copy from an OpenAI-compatible chat-completions API, with structured output.

The model is asked for JSON matching ``agents.page_copy.PAGE_COPY_SCHEMA`` (``response_format``
json_schema, strict). We check the answer ourselves anyway, with the validator every copywriter's
copy goes through: compatible servers differ in how strictly they enforce a schema, and strict
mode cannot express every rule (length limits, section count). An invalid answer is re-asked a
bounded number of times, telling the model what was wrong.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import requests
from django.conf import settings

from agents.page_copy import (
    MAX_SECTIONS,
    META_DESCRIPTION_MAX,
    MIN_SECTIONS,
    PAGE_COPY_SCHEMA,
    page_copy_problems,
    slug_of_page,
    validate_page_copy,
)

from .errors import ProviderPermanentError, ProviderRetryableError
from .http import HttpClient, HttpRetryPolicy

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o-mini"


class BriefLike(Protocol):
    """What the copywriter reads from a brief (``orders.brief.Brief`` fits)."""

    business_name: str
    sector: str
    city: str
    description: str
    pages: Sequence[str]
    brand_color: str
    language: str
    contact_email: str


class InvalidModelOutput(ProviderRetryableError):
    """The model answered, but not with valid page copy; asking again may fix it."""


_PROMPTS = {
    "fr": {
        "system": (
            "Tu es un rédacteur web senior qui écrit les sites vitrines de petites entreprises locales. "
            "Écris en français, avec un ton concret et crédible : cite la ville, le métier et des services "
            "précis tirés de la description. N'invente ni prix, ni chiffres, ni avis clients, ni labels, "
            "ni numéro de téléphone. Pas de texte de remplissage (lorem ipsum, crochets, « votre entreprise »). "
            "Réponds uniquement par un objet JSON conforme au schéma page_copy."
        ),
        "labels": (
            "Entreprise",
            "Secteur",
            "Ville",
            "Description",
            "Pages du site",
            "E-mail de contact",
            "Couleur de marque",
            "Design (JSON)",
        ),
        "task": (
            "Écris la page « {page} » (page {number} sur {total}{home}). Slug : {slug}. "
            "meta_description : {meta} caractères au plus. Entre {smin} et {smax} sections."
        ),
        "home": ", la page d'accueil",
        "reask": (
            "Ta réponse précédente n'est pas valide : {errors}. Réponds de nouveau avec un seul objet JSON "
            "conforme au schéma, sans texte autour."
        ),
    },
    "en": {
        "system": (
            "You are a senior web copywriter writing brochure sites for small local businesses. "
            "Write in English, concrete and believable: mention the city, the trade and specific services "
            "taken from the description. Do not invent prices, figures, reviews, certifications or phone "
            "numbers. No filler (lorem ipsum, brackets, 'your business'). "
            "Answer only with a JSON object matching the page_copy schema."
        ),
        "labels": (
            "Business",
            "Sector",
            "City",
            "Description",
            "Site pages",
            "Contact email",
            "Brand colour",
            "Design (JSON)",
        ),
        "task": (
            "Write the page '{page}' (page {number} of {total}{home}). Slug: {slug}. "
            "meta_description: at most {meta} characters. Between {smin} and {smax} sections."
        ),
        "home": ", the home page",
        "reask": (
            "Your previous answer is not valid: {errors}. Answer again with a single JSON object matching "
            "the schema, with no text around it."
        ),
    },
}


def build_messages(
    brief: BriefLike, design: Mapping[str, Any], page: str, index: int, slug: str
) -> list[dict[str, str]]:
    prompts = _PROMPTS.get(getattr(brief, "language", "fr"), _PROMPTS["fr"])
    pages = list(brief.pages or [page])
    values = (
        brief.business_name,
        brief.sector,
        brief.city,
        brief.description,
        ", ".join(pages),
        brief.contact_email,
        brief.brand_color,
        # Bounded: the design spec is context, not something worth thousands of tokens.
        json.dumps(dict(design), ensure_ascii=False, sort_keys=True, default=str)[:2000],
    )
    facts = "\n".join(f"{label}: {value}" for label, value in zip(prompts["labels"], values, strict=True) if value)
    task = prompts["task"].format(
        page=page,
        number=index + 1,
        total=max(len(pages), index + 1),
        home=prompts["home"] if index == 0 else "",
        slug=slug,
        meta=META_DESCRIPTION_MAX,
        smin=MIN_SECTIONS,
        smax=MAX_SECTIONS,
    )
    return [{"role": "system", "content": prompts["system"]}, {"role": "user", "content": f"{facts}\n\n{task}"}]


class ChatCompletionsCopywriter:
    """Writes one page of copy per call through ``POST {base_url}/chat/completions``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        timeout: float = 30,
        session: requests.Session | None = None,
        *,
        temperature: float = 0.7,
        max_reasks: int = 2,
        retry: HttpRetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not base_url or not api_key or not model:
            raise ValueError("ChatCompletionsCopywriter needs base_url, api_key and model")
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.model = model
        self.temperature = temperature
        self.max_reasks = max(0, max_reasks)
        self.http = HttpClient(
            provider="llm", session=session, timeout=timeout, retry=retry, sleep=sleep, rng=rng, secrets=(api_key,)
        )
        self._headers = {"Authorization": f"Bearer {api_key}"}

    def __repr__(self) -> str:  # Never show the key in logs or tracebacks.
        return f"ChatCompletionsCopywriter(url={self.url!r}, model={self.model!r})"

    def write_page(
        self, *, brief: BriefLike, design: Mapping[str, Any], page: str, index: int, idempotency_key: str
    ) -> dict[str, Any]:
        slug = slug_of_page(brief.pages, page, index)
        messages = build_messages(brief, design, page, index, slug)
        reask = _PROMPTS.get(getattr(brief, "language", "fr"), _PROMPTS["fr"])["reask"]
        last_error: InvalidModelOutput | None = None
        for attempt in range(self.max_reasks + 1):
            # Transport retries reuse a key (same body); a re-ask is a new request, so a new key.
            key = idempotency_key if attempt == 0 else f"{idempotency_key}:reask-{attempt}"
            content: str | None = None
            try:
                content = self._complete(messages, key)
                return self._parse(content, slug)
            except InvalidModelOutput as exc:
                last_error = exc
                logger.warning("invalid page copy for %r: %s", page, exc, extra={"action": "llm.page_copy.invalid"})
                # Show the model its own answer (when there was one) and what was wrong with it.
                answer = [{"role": "assistant", "content": content[:4000]}] if content else []
                messages = [*messages, *answer, {"role": "user", "content": reask.format(errors=exc.message)}]
        raise ProviderPermanentError(
            f"llm: no valid page copy for {page!r} after {self.max_reasks + 1} answers: {last_error}",
            provider="llm",
            code="invalid_output",
        ) from last_error

    def _complete(self, messages: list[dict[str, str]], idempotency_key: str) -> str:
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "page_copy", "strict": True, "schema": PAGE_COPY_SCHEMA},
            },
        }
        headers = {**self._headers, "Idempotency-Key": idempotency_key}
        response = self.http.request("POST", self.url, json=body, headers=headers)
        try:
            payload = response.json()
            message = payload["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise InvalidModelOutput("llm: answer has no choices[0].message", provider="llm") from exc
        if not isinstance(message, dict):
            raise InvalidModelOutput("llm: choices[0].message is not an object", provider="llm")
        if message.get("refusal"):
            # A refusal of a business brief repeats on every try; staff must look at the brief.
            raise ProviderPermanentError(
                self.http.redact(f"llm: model refused: {str(message['refusal'])[:300]}"), provider="llm", code="refusal"
            )
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise InvalidModelOutput("llm: empty message content", provider="llm")
        return content

    def _parse(self, content: str, slug: str) -> dict[str, Any]:
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise InvalidModelOutput(f"malformed JSON ({exc.msg} at char {exc.pos})", provider="llm") from exc
        if isinstance(data, dict):
            # The slug is ours: navigation and file names must not depend on the model's spelling.
            data = {**data, "slug": slug}
        problems = page_copy_problems(data)
        if problems:
            raise InvalidModelOutput("; ".join(problems[:10]), provider="llm")
        return validate_page_copy(data)


def get_llm_copywriter() -> ChatCompletionsCopywriter | None:
    """A copywriter when LLM_BASE_URL and LLM_API_KEY are set; None means use the offline one."""
    base_url = getattr(settings, "LLM_BASE_URL", "") or ""
    api_key = getattr(settings, "LLM_API_KEY", "") or ""
    if not base_url or not api_key:
        return None
    model = getattr(settings, "LLM_MODEL", DEFAULT_MODEL) or DEFAULT_MODEL
    timeout = float(settings.LLM_TIMEOUT_SECONDS)
    return ChatCompletionsCopywriter(base_url, api_key, model, timeout=timeout)
