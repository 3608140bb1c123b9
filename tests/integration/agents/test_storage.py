"""DatabaseStorage keeps Django's storage semantics, on whichever database runs the suite."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from agents.models import StoredFile
from agents.providers.deploy import LocalDeployProvider
from agents.storage import NAME_MAX_LENGTH, DatabaseStorage

pytestmark = pytest.mark.django_db

EVERY_BYTE = bytes(range(256))


@pytest.fixture
def storage() -> DatabaseStorage:
    return DatabaseStorage(base_url="/media/")


def read(storage: DatabaseStorage, name: str, mode: str = "rb") -> bytes | str:
    with storage.open(name, mode) as handle:
        return handle.read()


def test_saved_bytes_come_back_exactly_with_their_size(storage):
    name = storage.save("builds/site/assets/logo.bin", ContentFile(EVERY_BYTE))

    assert name == "builds/site/assets/logo.bin"
    assert storage.exists(name)
    assert read(storage, name) == EVERY_BYTE
    assert storage.size(name) == 256


def test_text_content_is_stored_as_utf8_and_readable_in_text_mode(storage):
    name = storage.save("sites/x/index.html", ContentFile("Pâtisseries à Lyon"))

    assert read(storage, name) == "Pâtisseries à Lyon".encode()
    assert read(storage, name, "r") == "Pâtisseries à Lyon"
    assert storage.size(name) == len("Pâtisseries à Lyon".encode())


def test_save_never_overwrites_and_returns_the_name_it_used(storage):
    first = storage.save("sites/x/index.html", ContentFile(b"first"))
    second = storage.save("sites/x/index.html", ContentFile(b"second"))

    assert first == "sites/x/index.html"
    assert second != first and second.startswith("sites/x/index_") and second.endswith(".html")
    assert read(storage, first) == b"first"
    assert read(storage, second) == b"second"


def test_a_name_taken_between_get_available_name_and_the_write_is_not_overwritten(storage):
    storage.save("sites/x/index.html", ContentFile(b"the other writer"))

    # What Storage.save() does after a concurrent writer took the name it was offered.
    saved = storage._save("sites/x/index.html", ContentFile(b"ours"))

    assert saved != "sites/x/index.html"
    assert read(storage, "sites/x/index.html") == b"the other writer"
    assert read(storage, saved) == b"ours"


def test_delete_then_replace_is_how_callers_overwrite(storage):
    storage.save("sites/x/site.css", ContentFile(b"old"))
    storage.delete("sites/x/site.css")
    assert not storage.exists("sites/x/site.css")

    assert storage.save("sites/x/site.css", ContentFile(b"new")) == "sites/x/site.css"
    assert read(storage, "sites/x/site.css") == b"new"


def test_missing_files_raise_file_not_found_and_deleting_one_is_harmless(storage):
    for call in (storage.open, storage.size, storage.get_modified_time):
        with pytest.raises(FileNotFoundError):
            call("nope.txt")
    assert storage.exists("nope.txt") is False
    storage.delete("nope.txt")


def test_files_open_for_reading_only(storage):
    storage.save("a.txt", ContentFile(b"x"))
    for mode in ("wb", "ab", "r+", "w"):
        with pytest.raises(ValueError, match="reading only"):
            storage.open("a.txt", mode)


def test_listdir_returns_the_directories_and_files_directly_under_a_path(storage):
    for name in ("sites/a/index.html", "sites/a/assets/site.css", "sites/b/index.html", "sites/a_b/x.html", "top"):
        storage.save(name, ContentFile(b"."))

    assert storage.listdir("") == (["sites"], ["top"])
    assert storage.listdir("sites") == (["a", "a_b", "b"], [])
    assert storage.listdir("sites/a/") == (["assets"], ["index.html"])
    assert storage.listdir("sites/a/assets") == ([], ["site.css"])
    # '_' is a LIKE wildcard: "sites/a_" must not match "sites/ab..." nor the other way round.
    assert storage.listdir("sites/a_b") == ([], ["x.html"])
    assert storage.listdir("nowhere") == ([], [])


def test_url_joins_the_base_url_and_the_quoted_name(storage, settings):
    assert storage.url("sites/x/nos pains.html") == "/media/sites/x/nos%20pains.html"
    settings.MEDIA_URL = "https://cdn.example/m/"
    assert DatabaseStorage().url("a.txt") == "https://cdn.example/m/a.txt"


def test_modified_time_is_aware_with_use_tz_and_naive_without(storage, settings):
    before = timezone.now()
    storage.save("a.txt", ContentFile(b"x"))

    modified = storage.get_modified_time("a.txt")
    assert isinstance(modified, datetime) and timezone.is_aware(modified)
    assert before <= modified <= timezone.now()
    settings.USE_TZ = False
    assert timezone.is_naive(storage.get_modified_time("a.txt"))


@pytest.mark.parametrize("name", ["../etc/passwd", "sites/../../x", "/etc/passwd"])
def test_paths_outside_the_storage_are_refused(storage, name):
    with pytest.raises(SuspiciousFileOperation):
        storage.save(name, ContentFile(b"x"))
    with pytest.raises(SuspiciousFileOperation):
        storage.exists(name)
    assert not StoredFile.objects.exists()


def test_names_longer_than_the_column_are_shortened_keeping_their_extension(storage):
    name = storage.save("d/" + "x" * 600 + ".html", ContentFile(b"x"))

    assert len(name) <= NAME_MAX_LENGTH and name.startswith("d/x") and name.endswith(".html")
    assert read(storage, name) == b"x"


def test_it_is_selected_by_the_storages_setting(settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "agents.storage.DatabaseStorage"}}

    assert isinstance(storages["default"], DatabaseStorage)
    assert DatabaseStorage().deconstruct()[0] == "agents.storage.DatabaseStorage"


def test_the_local_deploy_provider_publishes_and_republishes_through_it(storage):
    provider = LocalDeployProvider(storage=storage, base_url="https://factory.example")
    site = {"index.html": b"<!doctype html><title>v1</title>", "old.html": b"old", "assets/site.css": b"body{}"}

    first = provider.deploy(slug="boulangerie", files=site, idempotency_key="k1")
    again = provider.deploy(slug="boulangerie", files=site, idempotency_key="k1")
    updated = {"index.html": b"<!doctype html><title>v2</title>", "assets/site.css": b"body{}"}
    provider.deploy(slug="boulangerie", files=updated, idempotency_key="k2")

    assert first == again and first.url == "https://factory.example/sites/boulangerie/"
    assert read(storage, "sites/boulangerie/index.html") == updated["index.html"]
    assert not storage.exists("sites/boulangerie/old.html"), "a republish removes stale files"
    assert storage.listdir("sites/boulangerie") == (["assets"], [".manifest.json", "index.html"])
