"""Publishing a built site: to Django storage (``local``) or through the Vercel Deployments API.

Both providers are idempotent on retry: the same idempotency key with the same files changes
nothing and returns the same result, so the engine can replay a deploy step safely.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage

from .errors import ProviderPermanentError, ProviderRetryableError
from .http import HttpClient, HttpRetryPolicy

logger = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MANIFEST_NAME = ".manifest.json"
VERCEL_API_BASE = "https://api.vercel.com"
# Vercel caps request bodies at 4.5 MB; past this much inline base64 we upload files by SHA first.
VERCEL_INLINE_LIMIT = 3_000_000
META_KEY = "idempotencyKey"
FAILED_STATES = frozenset({"ERROR", "CANCELED"})
# A plain static site: no framework preset, no install or build step, files served as uploaded.
STATIC_PROJECT_SETTINGS: dict[str, None] = {
    "framework": None,
    "buildCommand": None,
    "installCommand": None,
    "devCommand": None,
    "outputDirectory": None,
}


def production_host(project: str) -> str:
    """The production domain Vercel gives a project: ``<project>.vercel.app``."""
    return f"{project}.vercel.app"


@dataclass(frozen=True)
class DeployResult:
    provider: str
    deployment_id: str
    url: str
    ready: bool
    detail: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class DeployProvider(Protocol):
    def deploy(self, *, slug: str, files: dict[str, bytes], idempotency_key: str) -> DeployResult: ...


def _check_path(path: str) -> None:
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(char) < 32 for char in path)
        or path == MANIFEST_NAME
    ):
        raise ProviderPermanentError(f"invalid site file path {path!r}: use a relative path without '..'")


def _check_request(slug: str, files: Mapping[str, bytes], idempotency_key: str) -> None:
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ProviderPermanentError(f"invalid site slug {slug!r}: lowercase letters, digits and '-', max 63")
    if not idempotency_key or len(idempotency_key) > 200:
        raise ProviderPermanentError("idempotency_key must be 1 to 200 characters")
    if not files:
        raise ProviderPermanentError(f"nothing to publish for site {slug!r}: no files")
    for path, data in files.items():
        _check_path(path)
        if not isinstance(data, bytes):
            raise ProviderPermanentError(f"site file {path!r} must be bytes, not {type(data).__name__}")


class LocalDeployProvider:
    """Writes the site under ``sites/<slug>/`` of a Django storage; a view serves it from there."""

    name = "local"

    def __init__(self, storage: Storage | None = None, base_url: str | None = None) -> None:
        self.storage = storage if storage is not None else default_storage
        # Read at construction, not import, so override_settings and env changes are honoured.
        self.base_url = (base_url if base_url is not None else settings.SITE_URL).rstrip("/")

    def deploy(self, *, slug: str, files: Mapping[str, bytes], idempotency_key: str) -> DeployResult:
        _check_request(slug, files, idempotency_key)
        root = f"sites/{slug}"
        digests = {path: hashlib.sha256(files[path]).hexdigest() for path in sorted(files)}
        fingerprint = hashlib.sha256(json.dumps([idempotency_key, digests]).encode()).hexdigest()
        result = DeployResult(
            provider=self.name,
            deployment_id=f"local-{fingerprint[:20]}",
            url=f"{self.base_url}/sites/{slug}/",
            ready=True,
            detail={"files": len(digests), "bytes": sum(len(d) for d in files.values()), "root": root},
        )
        try:
            previous = self._read_manifest(root)
            old = previous.get("files", {}) if previous else {}
            if (
                previous
                and previous.get("idempotency_key") == idempotency_key
                and old == digests
                and all(self.storage.exists(f"{root}/{path}") for path in digests)
            ):
                logger.info("site %s already published", slug, extra={"action": "deploy.local.unchanged"})
                return result
            written = 0
            for path in digests:
                name = f"{root}/{path}"
                # Unchanged files stay as they are: a republish only rewrites what differs.
                if old.get(path) == digests[path] and self.storage.exists(name):
                    continue
                self._write(name, files[path])
                written += 1
            stale = sorted(set(old) - set(digests))
            for path in stale:
                self.storage.delete(f"{root}/{path}")
            # Written last: the manifest only ever names a publish whose files are all in place.
            manifest = {"version": 1, "idempotency_key": idempotency_key, "files": digests}
            self._write(f"{root}/{MANIFEST_NAME}", json.dumps(manifest, indent=2, sort_keys=True).encode())
        except OSError as exc:
            raise ProviderRetryableError(f"local: could not publish site {slug!r}: {exc}", provider=self.name) from exc
        logger.info(
            "published site %s: %d written, %d removed",
            slug,
            written,
            len(stale),
            extra={"action": "deploy.local.published", "deployment_id": result.deployment_id},
        )
        return result

    def _read_manifest(self, root: str) -> dict[str, Any] | None:
        name = f"{root}/{MANIFEST_NAME}"
        if not self.storage.exists(name):
            return None
        with self.storage.open(name, "rb") as handle:
            raw = handle.read()
        try:
            manifest = json.loads(raw)
        except ValueError:
            return None  # A damaged manifest only costs a full republish.
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, dict):
            return None
        # Only paths we could have written may be deleted later: never follow a tampered manifest out.
        kept = {}
        for path, digest in files.items():
            try:
                _check_path(path)
            except ProviderPermanentError:
                continue
            kept[path] = digest
        return {**manifest, "files": kept}

    def _write(self, name: str, data: bytes) -> None:
        # Storage.save() never overwrites (it picks a free name), so replace = delete then save.
        if self.storage.exists(name):
            self.storage.delete(name)
        saved = self.storage.save(name, ContentFile(data))
        if saved != name:
            # Another publish of this slug wrote the same file in between; let the engine retry.
            self.storage.delete(saved)
            raise ProviderRetryableError(f"local: concurrent publish while writing {name!r}", provider=self.name)


class VercelDeployProvider:
    """Creates a production deployment of static files through Vercel's REST API."""

    name = "vercel"

    def __init__(
        self,
        token: str,
        team_id: str | None = None,
        project_name: str | None = None,
        api_base: str = VERCEL_API_BASE,
        session: requests.Session | None = None,
        timeout: float = 15.0,
        *,
        poll_interval: float = 3.0,
        poll_timeout: float = 120.0,
        create_attempts: int = 3,
        lookup_pages: int = 5,
        inline_limit: int = VERCEL_INLINE_LIMIT,
        retry: HttpRetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not token:
            raise ValueError("VercelDeployProvider needs an API token")
        self.http = HttpClient(
            provider=self.name, session=session, timeout=timeout, retry=retry, sleep=sleep, rng=rng, secrets=(token,)
        )
        self._headers = {"Authorization": f"Bearer {token}"}
        self.team_id = team_id or None
        self.project_name = project_name or None
        self.api_base = api_base.rstrip("/")
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.create_attempts = max(1, create_attempts)
        self.lookup_pages = max(1, lookup_pages)
        self.inline_limit = inline_limit
        self.sleep = sleep
        self.clock = clock

    def __repr__(self) -> str:  # Never show the token in logs or tracebacks.
        return f"VercelDeployProvider(team_id={self.team_id!r}, project_name={self.project_name!r})"

    def deploy(self, *, slug: str, files: Mapping[str, bytes], idempotency_key: str) -> DeployResult:
        _check_request(slug, files, idempotency_key)
        # One Vercel project per site unless VERCEL_PROJECT names a shared one.
        project = self.project_name or slug
        deployment: dict[str, Any] | None = None
        reused = False
        for attempt in range(1, self.create_attempts + 1):
            deployment = self._find_existing(project, idempotency_key)
            if deployment is not None:
                reused = True
                break
            try:
                deployment = self._create(project, slug, files, idempotency_key)
                break
            except ProviderRetryableError as exc:
                # The POST may have reached Vercel although its answer was lost, so the next round
                # looks the deployment up by its idempotency key before creating another one.
                delay = self.http.retry_delay(attempt, exc) if attempt < self.create_attempts else None
                if delay is None:
                    raise
                self.sleep(delay)
        if deployment is None:  # pragma: no cover - the loop breaks or raises
            raise ProviderRetryableError("vercel: no deployment after retries", provider=self.name)
        logger.info(
            "vercel deployment %s for site %s (%s)",
            deployment.get("id"),
            slug,
            "reused" if reused else "created",
            extra={"action": "deploy.vercel.reused" if reused else "deploy.vercel.created"},
        )
        return self._wait(deployment, reused=reused)

    # -- API calls -------------------------------------------------------------------------

    def _params(self, **extra: str) -> dict[str, str]:
        return {**({"teamId": self.team_id} if self.team_id else {}), **extra}

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProviderRetryableError(f"vercel: unexpected non-JSON answer (HTTP {response.status_code})")
        return body

    def _find_existing(self, project: str, key: str) -> dict[str, Any] | None:
        """The live deployment carrying this idempotency key in its meta, if any.

        The list endpoint's documented filters do not include meta; the Vercel CLI sends
        ``meta-<key>=<value>`` for ``vercel ls --meta``, so we send it too and still match
        client-side, over a bounded number of pages, in case the filter is ignored.
        """
        params = self._params(projectId=project, target="production", limit="20", **{f"meta-{META_KEY}": key})
        for _ in range(self.lookup_pages):
            try:
                response = self.http.request(
                    "GET", f"{self.api_base}/v6/deployments", params=params, headers=self._headers
                )
            except ProviderPermanentError as exc:
                if exc.status == 404:
                    return None  # The project does not exist yet, so nothing was deployed.
                raise
            body = self._json(response)
            for item in body.get("deployments") or []:
                meta = item.get("meta") or {}
                state = item.get("readyState") or item.get("state")
                # A failed or cancelled build serves nothing: a retry may build again.
                if meta.get(META_KEY) == key and state not in FAILED_STATES:
                    return self._get(str(item.get("uid") or item.get("id")))
            next_page = (body.get("pagination") or {}).get("next")
            if not next_page:
                return None
            params["until"] = str(next_page)
        return None

    def _create(self, project: str, slug: str, files: Mapping[str, bytes], key: str) -> dict[str, Any]:
        inline_size = sum(4 * ((len(data) + 2) // 3) + len(path) + 64 for path, data in files.items())
        if inline_size <= self.inline_limit:
            entries: list[dict[str, Any]] = [
                {"file": path, "data": base64.b64encode(files[path]).decode("ascii"), "encoding": "base64"}
                for path in sorted(files)
            ]
        else:
            entries = [{"file": path, **self._upload(files[path])} for path in sorted(files)]
        body = {
            "name": project,
            "target": "production",
            "files": entries,
            "meta": {META_KEY: key, "siteSlug": slug},
            "projectSettings": STATIC_PROJECT_SETTINGS,
        }
        response = self.http.request(
            "POST",
            f"{self.api_base}/v13/deployments",
            params=self._params(skipAutoDetectionConfirmation="1"),
            json=body,
            headers=self._headers,
            max_attempts=1,  # A lost answer must be followed by a lookup, not a blind re-POST.
        )
        deployment = self._json(response)
        if not deployment.get("id"):
            raise ProviderRetryableError("vercel: create answered without a deployment id", provider=self.name)
        return deployment

    def _upload(self, data: bytes) -> dict[str, Any]:
        """POST /v2/files keyed by the content's SHA-1; repeating it is harmless, so it retries."""
        digest = hashlib.sha1(data).hexdigest()  # noqa: S324 - Vercel's content address, not security
        headers = {
            **self._headers,
            "Content-Type": "application/octet-stream",
            "x-vercel-digest": digest,
            "Content-Length": str(len(data)),
        }
        self.http.request("POST", f"{self.api_base}/v2/files", params=self._params(), data=data, headers=headers)
        return {"sha": digest, "size": len(data)}

    def _get(self, deployment_id: str) -> dict[str, Any]:
        response = self.http.request(
            "GET",
            f"{self.api_base}/v13/deployments/{quote(deployment_id, safe='')}",
            params=self._params(),
            headers=self._headers,
        )
        return self._json(response)

    def _wait(self, deployment: dict[str, Any], *, reused: bool) -> DeployResult:
        deployment_id = str(deployment["id"])
        deadline = self.clock() + self.poll_timeout
        while True:
            state = deployment.get("readyState")
            if state == "READY":
                return self._result(deployment, ready=True, reused=reused)
            if state in FAILED_STATES:
                code = deployment.get("errorCode")
                reason = deployment.get("errorMessage") or "no reason given"
                raise ProviderPermanentError(
                    self.http.redact(
                        f"vercel: deployment {deployment_id} ended {state}: {code or ''} {reason}".strip()
                    ),
                    provider=self.name,
                    code=str(code) if code else state,
                )
            remaining = deadline - self.clock()
            if remaining <= 0:
                # Still building: the caller may come back later; the key finds this same deployment.
                return self._result(deployment, ready=False, reused=reused)
            self.sleep(min(self.poll_interval, remaining))
            deployment = self._get(deployment_id)

    def _result(self, deployment: dict[str, Any], *, ready: bool, reused: bool) -> DeployResult:
        host = str(deployment.get("url") or "")
        aliases = [a for a in deployment.get("alias") or [] if isinstance(a, str)]
        project = self.project_name or str(deployment.get("name") or "")
        # The project's production domain is public and is the address the sitemap and Open Graph tags were built
        # with; the per-deployment URL sits behind Vercel's Standard Deployment Protection, so customers get the
        # production domain. An alias Vercel reports wins over our guess (a taken name gets a scope suffix).
        expected = production_host(project) if project else ""
        public = (expected if expected in aliases else aliases[0] if aliases else expected) or host
        # Until it is ready, the deployment's own URL is the only address that exists.
        address = public if ready else host
        return DeployResult(
            provider=self.name,
            deployment_id=str(deployment["id"]),
            url=f"https://{address}/" if address else "",
            ready=ready,
            detail={
                "ready_state": deployment.get("readyState"),
                "deployment_url": f"https://{host}" if host else None,
                "aliases": aliases,
                "project": deployment.get("name"),
                "inspector_url": deployment.get("inspectorUrl"),
                "reused": reused,
            },
        )


def get_deploy_provider() -> DeployProvider:
    """The provider named by ``settings.DEPLOY_PROVIDER`` (``local`` by default, or ``vercel``)."""
    choice = str(getattr(settings, "DEPLOY_PROVIDER", "local") or "local").strip().lower()
    if choice == "local":
        return LocalDeployProvider()
    if choice == "vercel":
        token = getattr(settings, "VERCEL_TOKEN", "") or ""
        if not token:
            raise ImproperlyConfigured("VERCEL_TOKEN must be set when DEPLOY_PROVIDER is 'vercel'.")
        return VercelDeployProvider(
            token,
            team_id=getattr(settings, "VERCEL_TEAM_ID", None) or None,
            project_name=getattr(settings, "VERCEL_PROJECT", None) or None,
            api_base=getattr(settings, "VERCEL_API_BASE", VERCEL_API_BASE) or VERCEL_API_BASE,
            poll_interval=float(getattr(settings, "VERCEL_POLL_SECONDS", 3.0)),
        )
    raise ImproperlyConfigured(f"DEPLOY_PROVIDER must be 'local' or 'vercel', not {choice!r}.")
