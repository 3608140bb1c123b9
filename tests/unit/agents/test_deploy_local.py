"""LocalDeployProvider against a real FileSystemStorage in a temporary directory."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from agents.providers.deploy import DeployProvider, LocalDeployProvider, get_deploy_provider
from agents.providers.errors import ProviderPermanentError

SITE = {
    "index.html": b"<!doctype html><title>Accueil</title>",
    "a-propos.html": b"<!doctype html><title>A propos</title>",
    "assets/site.css": b"body{color:#123456}",
    "assets/logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
}


class CountingStorage(FileSystemStorage):
    """A real file system storage that counts writes and deletes."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.saved: list[str] = []
        self.deleted: list[str] = []

    def _save(self, name, content):
        self.saved.append(name)
        return super()._save(name, content)

    def delete(self, name):
        self.deleted.append(name)
        super().delete(name)


@pytest.fixture
def storage(tmp_path):
    return CountingStorage(location=tmp_path, base_url="/media/")


@pytest.fixture
def provider(storage):
    return LocalDeployProvider(storage=storage, base_url="https://factory.example")


def read(storage, name):
    with storage.open(name, "rb") as handle:
        return handle.read()


def test_local_deploy_writes_every_file_to_storage(provider, storage):
    result = provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key="run-1:deploy")

    for path, data in SITE.items():
        assert read(storage, f"sites/boulangerie-martin/{path}") == data
    assert result.provider == "local"
    assert result.ready is True
    assert result.url == "https://factory.example/sites/boulangerie-martin/"
    assert result.detail["files"] == len(SITE)
    assert isinstance(provider, DeployProvider)


def test_manifest_records_the_key_and_sha256_of_each_file(provider, storage):
    provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key="run-1:deploy")

    manifest = json.loads(read(storage, "sites/boulangerie-martin/.manifest.json"))
    assert manifest["idempotency_key"] == "run-1:deploy"
    assert manifest["files"] == {path: hashlib.sha256(data).hexdigest() for path, data in SITE.items()}


def test_second_deploy_with_same_key_changes_nothing(provider, storage):
    first = provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key="run-1:deploy")
    saved, deleted = list(storage.saved), list(storage.deleted)

    again = provider.deploy(slug="boulangerie-martin", files=dict(SITE), idempotency_key="run-1:deploy")

    assert again == first
    assert storage.saved == saved
    assert storage.deleted == deleted


def test_republish_removes_stale_files(provider, storage):
    provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key="run-1:deploy")
    smaller = {k: v for k, v in SITE.items() if k != "a-propos.html"}

    provider.deploy(slug="boulangerie-martin", files=smaller, idempotency_key="run-2:deploy")

    assert not storage.exists("sites/boulangerie-martin/a-propos.html")
    assert storage.exists("sites/boulangerie-martin/index.html")
    manifest = json.loads(read(storage, "sites/boulangerie-martin/.manifest.json"))
    assert set(manifest["files"]) == set(smaller)


def test_republish_rewrites_only_changed_files(provider, storage):
    provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key="run-1:deploy")
    storage.saved.clear()
    changed = {**SITE, "index.html": b"<!doctype html><title>Nouveau</title>"}

    provider.deploy(slug="boulangerie-martin", files=changed, idempotency_key="run-2:deploy")

    assert storage.saved == ["sites/boulangerie-martin/index.html", "sites/boulangerie-martin/.manifest.json"]
    assert read(storage, "sites/boulangerie-martin/index.html") == changed["index.html"]


def test_same_key_with_different_content_publishes_the_new_content(provider, storage):
    first = provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key="run-1:deploy")
    changed = {**SITE, "assets/site.css": b"body{color:#000}"}

    second = provider.deploy(slug="boulangerie-martin", files=changed, idempotency_key="run-1:deploy")

    assert read(storage, "sites/boulangerie-martin/assets/site.css") == b"body{color:#000}"
    assert second.deployment_id != first.deployment_id


def test_a_file_deleted_behind_our_back_is_restored_on_retry(provider, storage):
    provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key="run-1:deploy")
    storage.delete("sites/boulangerie-martin/index.html")

    provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key="run-1:deploy")

    assert read(storage, "sites/boulangerie-martin/index.html") == SITE["index.html"]


def test_a_tampered_manifest_cannot_delete_outside_the_site(provider, storage):
    storage.save("sites/other/index.html", ContentFile(b"other site"))
    manifest = {"idempotency_key": "x", "files": {"../other/index.html": "0" * 64}}
    storage.save("sites/boulangerie-martin/.manifest.json", ContentFile(json.dumps(manifest).encode()))

    provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key="run-1:deploy")

    assert storage.exists("sites/other/index.html")


@pytest.mark.parametrize("path", ["../escape.html", "/abs.html", "a//b.html", "dir/./x.html", ".manifest.json", ""])
def test_unsafe_file_paths_are_refused_as_permanent(provider, path):
    with pytest.raises(ProviderPermanentError, match="invalid site file path"):
        provider.deploy(slug="boulangerie-martin", files={path: b"x"}, idempotency_key="k")


@pytest.mark.parametrize("slug", ["", "Boulangerie", "a/b", "-lead", "trail-", "x" * 64])
def test_bad_slugs_are_refused_as_permanent(provider, slug):
    with pytest.raises(ProviderPermanentError, match="invalid site slug"):
        provider.deploy(slug=slug, files=SITE, idempotency_key="k")


def test_empty_site_and_missing_key_are_refused(provider):
    with pytest.raises(ProviderPermanentError, match="no files"):
        provider.deploy(slug="boulangerie-martin", files={}, idempotency_key="k")
    with pytest.raises(ProviderPermanentError, match="idempotency_key"):
        provider.deploy(slug="boulangerie-martin", files=SITE, idempotency_key="")


def test_base_url_defaults_to_site_url_setting(settings, storage):
    settings.SITE_URL = "https://sites.example.org"

    result = LocalDeployProvider(storage=storage).deploy(slug="garage-dupont", files=SITE, idempotency_key="k")

    assert result.url == "https://sites.example.org/sites/garage-dupont/"


def test_get_deploy_provider_defaults_to_local(settings):
    if hasattr(settings, "DEPLOY_PROVIDER"):
        del settings.DEPLOY_PROVIDER

    assert isinstance(get_deploy_provider(), LocalDeployProvider)
