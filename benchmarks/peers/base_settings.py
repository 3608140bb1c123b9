"""What the peers' Django settings share: one dedicated database from BENCH_DB_URL, no DEBUG."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

_url = urlsplit(os.environ["BENCH_DB_URL"])

SECRET_KEY = "benchmarks-only-not-a-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/"),
        "USER": _url.username or "postgres",
        "PASSWORD": _url.password or "",
        "HOST": _url.hostname or "127.0.0.1",
        "PORT": str(_url.port or 5432),
        # Persistent connections: db_worker calls close_old_connections() around every task,
        # which with Django's default (0) reconnects for each one. Tuned in the peers' favour.
        "CONN_MAX_AGE": None,
    }
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
