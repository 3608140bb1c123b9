"""An in-memory Vercel API on pytest-httpserver, strict about request shapes like the real one.

Serves the endpoints VercelDeployProvider uses: POST /v13/deployments, GET /v13/deployments/<id>,
GET /v6/deployments (projectId, meta-*, limit, until), POST /v2/files. Faults are injected
with ``fail_next``, ``lose_next_create``, ``reject_auth`` and ``building_polls``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

MAX_BODY = 4_500_000  # Vercel's request body limit
CREATE_KEYS = {"name", "files", "target", "meta", "projectSettings", "project", "gitMetadata"}
NAME_RE = re.compile(r"^[a-z0-9._-]{1,100}$")


@dataclass
class Fault:
    status: int
    retry_after: str | None = None
    path: str | None = None  # only calls whose path starts with this


@dataclass
class FakeVercel:
    httpserver: HTTPServer
    token: str = "vercel-test-token-123"
    team_id: str | None = "team_fake"
    building_polls: int = 0  # GETs of a deployment that still answer BUILDING
    final_state: str = "READY"
    error_message: str = "Command failed with exit code 1"
    honour_meta_filter: bool = True
    # Vercel adds the team's scope to a production domain whose plain name is taken: "-acme".
    alias_scope_suffix: str = ""
    page_size: int = 20
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    create_bodies: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lost_creates: int = 0
    auth_status: int | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _polls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.httpserver.url_for("").rstrip("/")

    # -- fault injection -------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 500, *, retry_after: str | None = None, path: str | None = None) -> None:
        self.faults.extend(Fault(status, retry_after, path) for _ in range(n))

    def lose_next_create(self, n: int = 1) -> None:
        """Create the deployment, then answer 500 as if the response was lost on the way."""
        self.lost_creates += n

    def reject_auth(self, status: int = 401) -> None:
        self.auth_status = status

    def add_deployment(self, name: str, meta: dict[str, str], state: str = "READY") -> dict[str, Any]:
        return self._store(name, meta, target="production", state=state)

    # -- request handling ------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        self.calls.append((request.method, request.path))
        for i, fault in enumerate(self.faults):
            if fault.path is None or request.path.startswith(fault.path):
                del self.faults[i]
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return _error(fault.status, "internal_server_error", "fault injected", headers)
        if self.auth_status is not None:
            return _error(self.auth_status, "forbidden", "Not authorized", {"x-invalid-token": "1"})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            # Vercel answers a missing or wrong token with 403 and invalidToken.
            return _error(403, "forbidden", "Not authorized", {})
        if request.args.get("teamId") != self.team_id:
            return _error(400, "bad_request", f"expected teamId={self.team_id!r}", {})
        if len(request.get_data()) > MAX_BODY:
            return _error(413, "payload_too_large", "Request body exceeds 4.5 MB", {})
        route = (request.method, request.path)
        if route == ("POST", "/v13/deployments"):
            return self._create(request)
        if route == ("GET", "/v6/deployments"):
            return self._list(request)
        if route == ("POST", "/v2/files"):
            return self._upload(request)
        match = re.fullmatch(r"/v13/deployments/([^/]+)", request.path)
        if request.method == "GET" and match:
            return self._get(match.group(1))
        return _error(404, "not_found", f"no route {request.method} {request.path}", {})

    def _create(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return _error(400, "bad_request", "Invalid JSON body", {})
        problem = _create_problem(body, self.uploads)
        if problem:
            return _error(400, "bad_request", problem, {})
        missing = [f["sha"] for f in body["files"] if "sha" in f and f["sha"] not in self.uploads]
        if missing:
            return Response(
                json.dumps({"error": {"code": "missing_files", "message": "Missing files", "missing": missing}}),
                status=400,
                content_type="application/json",
            )
        self.create_bodies.append(body)
        deployment = self._store(body["name"], body["meta"], target=body["target"], state="QUEUED")
        if self.lost_creates:
            self.lost_creates -= 1
            return _error(500, "internal_server_error", "upstream timeout", {})
        return _json(deployment)

    def _store(self, name: str, meta: dict[str, str], *, target: str, state: str) -> dict[str, Any]:
        n = next(self._ids)
        deployment_id = f"dpl_{n:06d}"
        self.deployments[deployment_id] = {
            "id": deployment_id,
            "name": name,
            "url": f"{name}-{n:06d}.vercel.app",
            "readyState": state,
            "target": target,
            "meta": dict(meta),
            "alias": [],
            "aliasAssigned": False,
            "createdAt": 1_700_000_000_000 + n,
            "inspectorUrl": f"https://vercel.com/fake/{name}/{deployment_id}",
        }
        return self.deployments[deployment_id]

    def _get(self, deployment_id: str) -> Response:
        deployment = self.deployments.get(deployment_id)
        if deployment is None:
            return _error(404, "not_found", "Deployment not found", {})
        if deployment["readyState"] not in ("READY", "ERROR", "CANCELED"):
            polls = self._polls.get(deployment_id, 0)
            self._polls[deployment_id] = polls + 1
            if polls < self.building_polls:
                deployment["readyState"] = "BUILDING"
            elif self.final_state == "READY":
                alias = f"{deployment['name']}{self.alias_scope_suffix}.vercel.app"
                deployment.update(readyState="READY", alias=[alias], aliasAssigned=True)
            else:
                deployment.update(readyState=self.final_state, errorCode="BUILD_FAILED")
                deployment["errorMessage"] = self.error_message
        return _json(deployment)

    def _list(self, request: Request) -> Response:
        project = request.args.get("projectId")
        found = [d for d in self.deployments.values() if project in (None, d["name"])]
        if project and not found:
            return _error(404, "not_found", "Project not found", {})
        if self.honour_meta_filter:
            for key, value in request.args.items():
                if key.startswith("meta-"):
                    found = [d for d in found if d["meta"].get(key[5:]) == value]
        if request.args.get("target"):
            found = [d for d in found if d["target"] == request.args["target"]]
        if request.args.get("until"):
            found = [d for d in found if d["createdAt"] < int(request.args["until"])]
        found.sort(key=lambda d: d["createdAt"], reverse=True)
        limit = min(int(request.args.get("limit", 20)), self.page_size)
        page, rest = found[:limit], found[limit:]
        items = [
            {"uid": d["id"], **{k: d[k] for k in ("name", "url", "readyState", "meta", "target", "createdAt")}}
            for d in page
        ]
        pagination = {"count": len(items), "next": page[-1]["createdAt"] if rest else None, "prev": None}
        return _json({"deployments": items, "pagination": pagination})

    def _upload(self, request: Request) -> Response:
        data = request.get_data()
        digest = request.headers.get("x-vercel-digest", "")
        if hashlib.sha1(data).hexdigest() != digest:  # noqa: S324
            return _error(400, "invalid_digest", "x-vercel-digest does not match the body's SHA-1", {})
        if request.headers.get("Content-Length") != str(len(data)):
            return _error(400, "invalid_size", "Content-Length does not match the body", {})
        self.uploads[digest] = data
        return _json({"urls": []})


def _create_problem(body: Any, uploads: dict[str, bytes]) -> str | None:
    """What Vercel would reject in a create body, or None."""
    if not isinstance(body, dict):
        return "body must be an object"
    unknown = set(body) - CREATE_KEYS
    if unknown:
        return f"unknown properties {sorted(unknown)}"
    if not isinstance(body.get("name"), str) or not NAME_RE.match(body["name"]):
        return "name must be a valid project name"
    if body.get("target") != "production":
        return "target must be 'production'"
    meta = body.get("meta")
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        return "meta must map strings to strings"
    settings = body.get("projectSettings")
    if not isinstance(settings, dict) or settings.get("framework", "missing") is not None:
        return "projectSettings.framework must be null for a static site"
    files = body.get("files")
    if not isinstance(files, list) or not files:
        return "files must be a non-empty array"
    for item in files:
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            return "each file needs a 'file' path"
        if set(item) == {"file", "data", "encoding"}:
            if item["encoding"] != "base64":
                return "encoding must be 'base64' here"
            try:
                base64.b64decode(item["data"], validate=True)
            except (binascii.Error, TypeError):
                return f"data of {item['file']} is not base64"
        elif set(item) == {"file", "sha", "size"}:
            if uploads.get(item["sha"]) is not None and len(uploads[item["sha"]]) != item["size"]:
                return f"size of {item['file']} does not match the upload"
        else:
            return f"file entry {sorted(item)} is neither inline nor a reference"
    return None


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")


def _error(status: int, code: str, message: str, headers: dict[str, str]) -> Response:
    return Response(
        json.dumps({"error": {"code": code, "message": message}}),
        status=status,
        content_type="application/json",
        headers=headers,
    )
