"""A Django storage whose files are rows of agents.models.StoredFile.

On Vercel the filesystem is ephemeral and the build and deploy steps run in different invocations, so
with the local deploy provider the built and published sites must live where every invocation can read
them: the database. Select it with DEFAULT_FILE_STORAGE_BACKEND=agents.storage.DatabaseStorage.

Semantics follow Django's FileSystemStorage: `save()` never overwrites (it takes the name
`get_available_name()` offers, and if a concurrent writer takes that name first, the next free one);
a missing file raises FileNotFoundError; `delete()` of a missing file does nothing.
"""

from __future__ import annotations

import io
import posixpath
from datetime import datetime
from typing import IO, Any
from urllib.parse import urljoin

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import File
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.encoding import filepath_to_uri

from agents.models import StoredFile

NAME_MAX_LENGTH = StoredFile._meta.get_field("name").max_length or 500
# A writer racing us for a name costs one more try; this many in a row means something else is wrong.
SAVE_TRIES = 20


@deconstructible(path="agents.storage.DatabaseStorage")
class DatabaseStorage(Storage):
    def __init__(self, base_url: str | None = None) -> None:
        self._base_url = base_url

    @property
    def base_url(self) -> str:
        # Read when used, not at import, so override_settings(MEDIA_URL=...) is honoured.
        url = self._base_url if self._base_url is not None else settings.MEDIA_URL
        return url if url.endswith("/") else f"{url}/"

    # -- reading ----------------------------------------------------------------------------------

    def _open(self, name: str, mode: str = "rb") -> File:
        if any(flag in mode for flag in "wax+"):
            raise ValueError(f"DatabaseStorage opens files for reading only (mode {mode!r}); write with save()")
        row = StoredFile.objects.filter(name=_clean(name)).values_list("content", flat=True).first()
        if row is None:
            raise FileNotFoundError(f"No stored file named {name!r}")
        data = bytes(row)  # Postgres hands back a memoryview
        handle: IO[Any] = io.BytesIO(data) if "b" in mode else io.StringIO(data.decode("utf-8"))
        return File(handle, name=name)

    def exists(self, name: str) -> bool:
        return StoredFile.objects.filter(name=_clean(name)).exists()

    def size(self, name: str) -> int:
        size = StoredFile.objects.filter(name=_clean(name)).values_list("size", flat=True).first()
        if size is None:
            raise FileNotFoundError(f"No stored file named {name!r}")
        return size

    def get_modified_time(self, name: str) -> datetime:
        when = StoredFile.objects.filter(name=_clean(name)).values_list("modified_at", flat=True).first()
        if when is None:
            raise FileNotFoundError(f"No stored file named {name!r}")
        # Django's contract (aware with USE_TZ, naive local time without) is what the ORM already returns.
        return when

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        """(directories, files) directly under `path`; directories are the name prefixes files share."""
        directory = _clean(path)
        prefix = f"{directory}/" if directory else ""
        directories: set[str] = set()
        files: list[str] = []
        # startswith escapes LIKE's wildcards, so a '%' or '_' in a name matches only itself.
        for name in StoredFile.objects.filter(name__startswith=prefix).values_list("name", flat=True):
            head, sep, _rest = name[len(prefix) :].partition("/")
            if sep:
                directories.add(head)
            else:
                files.append(head)
        return sorted(directories), sorted(files)

    def url(self, name: str) -> str:
        return urljoin(self.base_url, filepath_to_uri(_clean(name)))

    # -- writing ----------------------------------------------------------------------------------

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        # The column is the hard limit, whatever the caller's FileField says.
        limit = min(max_length or NAME_MAX_LENGTH, NAME_MAX_LENGTH)
        return super().get_available_name(name, max_length=limit)

    def _save(self, name: str, content: File) -> str:
        data = _read_all(content)
        name = _clean(name)
        for _ in range(SAVE_TRIES):
            try:
                with transaction.atomic():
                    StoredFile.objects.create(name=name, content=data, size=len(data), modified_at=timezone.now())
                return name
            except IntegrityError:
                # Taken between get_available_name() and now: like FileSystemStorage, never overwrite.
                name = self.get_available_name(name)
        raise OSError(f"No free name for {name!r} after {SAVE_TRIES} tries")

    def delete(self, name: str) -> None:
        if not name:
            raise ValueError("The name must be given to delete().")
        StoredFile.objects.filter(name=_clean(name)).delete()


def _clean(name: str) -> str:
    """The stored form of a name: forward slashes, no '.' parts; refuses absolute paths and '..'."""
    name = str(name).replace("\\", "/")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise SuspiciousFileOperation(f"Detected path traversal attempt in {name!r}")
    return posixpath.join(*parts) if parts else ""


def _read_all(content: File) -> bytes:
    # Storage.save() wraps anything without chunks() in a File; chunks() rewinds to the start itself.
    return b"".join(chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk) for chunk in content.chunks())
