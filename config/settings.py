"""Settings for the whole product, read once from the environment.

Every knob is an environment variable with a safe laptop default; production
differs only by the environment (see README, "Configuration"). A malformed
value raises ImproperlyConfigured naming the variable, at start-up. This module
imports none of the project's apps: the engine's values are checked by its
system checks (orchestration/checks.py), which refuse to start with a bad one.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


def _env(name: str, cast, default):
    """Read one variable, turning a parse failure into a named configuration error."""
    try:
        return env(name, cast=cast, default=default)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"Environment variable {name} is invalid: {exc}") from exc


DEBUG = _env("DEBUG", bool, False)
SECRET_KEY = _env("SECRET_KEY", str, "")
if not SECRET_KEY:
    if not DEBUG and _env("DJANGO_PRODUCTION", bool, False):
        raise ImproperlyConfigured("SECRET_KEY must be set in production.")
    # Laptop and test default only; DJANGO_PRODUCTION refuses to start without a real one.
    SECRET_KEY = "dev-insecure-key-not-for-production-0123456789abcdefghijklmnop"  # noqa: S105

ALLOWED_HOSTS = _env("ALLOWED_HOSTS", list, ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = _env("CSRF_TRUSTED_ORIGINS", list, [])
SITE_URL = _env("SITE_URL", str, "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "metrics.admin_app.BackofficeAdminConfig",  # django.contrib.admin, with the back office's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files: the docs page works offline
    "orchestration",
    "orders",
    "agents",
    "metrics",
    "gateway",
    "loadtest",  # a tool (`manage.py loadtest`), no models: nothing of the product imports it
]

MIDDLEWARE = [
    "metrics.middleware.RequestIdMiddleware",  # first: every response and log line gets the request id
    # Refuses control characters in the path, query string and credential headers before anything reads them.
    "gateway.middleware.ControlCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # JSON errors on /api/ paths (404, 413, 500...) and the body-size limit for JSON bodies.
    "gateway.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "metrics.middleware.ErrorRecordingMiddleware",  # last: sees the view's unhandled exception first
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# SQLite file by default; Postgres (or Neon's pooled endpoint) when DATABASE_URL is set.
DATABASE_URL = _env("DATABASE_URL", str, f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=_env("CONN_MAX_AGE", int, 0), conn_health_checks=True)
except ValueError as exc:
    raise ImproperlyConfigured(f"Environment variable DATABASE_URL is invalid: {exc}") from exc

if _db["ENGINE"] == "django.db.backends.sqlite3":
    # BEGIN IMMEDIATE takes SQLite's write lock at the start of every atomic block, which
    # makes SQLite a correct single-writer queue (no double claim); the timeout lets
    # several worker processes wait their turn instead of failing with "database is locked".
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    if _db["NAME"] and _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # A file, not memory: the tests start real worker processes that must see the same database.
    # One per test process, so two test runs on one checkout never share (or destroy) it.
    _db["TEST"] = {"NAME": _env("TEST_DATABASE_NAME", str, str(VAR_DIR / f"test_db_{os.getpid()}.sqlite3"))}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Neon's pooled endpoint is PgBouncer in transaction mode: no server-side cursors.
    _db["DISABLE_SERVER_SIDE_CURSORS"] = True
    _db.setdefault("TEST", {})["NAME"] = _env("TEST_DATABASE_NAME", str, f"test_{_db['NAME']}_{os.getpid()}")
DATABASES = {"default": _db}
# The direct (non-pooled) URL, used by run_worker for LISTEN; defaults to DATABASE_URL.
DIRECT_DATABASE_URL = _env("DIRECT_DATABASE_URL", str, DATABASE_URL)


def database_url_is_pooled(database_url: str, direct_database_url: str) -> bool:
    """Whether DATABASE_URL goes through a connection pooler: a DIRECT_DATABASE_URL of its own
    says so, and so does Neon's pooled host name (`...-pooler.<region>...`)."""
    host = (dj_database_url.parse(database_url).get("HOST") or "").split(",")[0]
    return direct_database_url != database_url or "-pooler." in f"{host}."


# Protocol-level prepared statements (the engine's queue statements; Django's own cursors bind
# client-side and never prepare). A transaction-mode pooler hands each transaction any server
# connection: a statement prepared on one is missing on the next, or its name is already taken
# there ("prepared statement "_pg3_0" already exists"). Off by default for a pooled URL; Neon's
# pooler (PgBouncer >= 1.22, max_prepared_statements) supports them: ENGINE_PREPARE_STATEMENTS=1.
PREPARE_STATEMENTS = _env(
    "ENGINE_PREPARE_STATEMENTS", bool, not database_url_is_pooled(DATABASE_URL, DIRECT_DATABASE_URL)
)
if _db["ENGINE"] == "django.db.backends.postgresql" and not PREPARE_STATEMENTS:
    # Django's default, made explicit so no OPTIONS from elsewhere turns preparation back on.
    _db["OPTIONS"] = {**_db.get("OPTIONS", {}), "prepare_threshold": None}
    _db["OPTIONS"].pop("server_side_binding", None)
# GET /api/health: how long one successful database probe answers this process's health
# checks (seconds; 0: every request probes). The route is public: see gateway/health.py.
HEALTH_DATABASE_CHECK_SECONDS = _env("HEALTH_DATABASE_CHECK_SECONDS", float, 1.0)
if HEALTH_DATABASE_CHECK_SECONDS < 0:
    raise ImproperlyConfigured("Environment variable HEALTH_DATABASE_CHECK_SECONDS is invalid: it cannot be negative")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(_env("STATIC_ROOT", str, str(BASE_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = _env("MEDIA_ROOT", str, str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": _env("DEFAULT_FILE_STORAGE_BACKEND", str, "django.core.files.storage.FileSystemStorage")},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Who hosts sites published by the local provider: the legal notice of every such site names it.
# (Sites deployed to Vercel name Vercel Inc., agents/legal.py.)
LEGAL_HOST_NAME = _env("LEGAL_HOST_NAME", str, "")
LEGAL_HOST_ADDRESS = _env("LEGAL_HOST_ADDRESS", str, "")
LEGAL_HOST_CONTACT = _env("LEGAL_HOST_CONTACT", str, "")
# How long a site's contact-form messages are kept (the privacy page says so; prune_contact_messages applies it).
CONTACT_RETENTION_DAYS = _env("CONTACT_RETENTION_DAYS", int, 365)

# --- Mail -----------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = _env("DEFAULT_FROM_EMAIL", str, "Studio <hello@studio.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_SUBJECT_PREFIX = "[Site factory] "  # staff mail (mail_admins); Django's default says "[Django] "
ADMINS = [("Staff", addr) for addr in _env("STAFF_EMAILS", list, ["staff@studio.example"])]

# --- The order -------------------------------------------------------------
ORDER_PRICE_CENTS = _env("ORDER_PRICE_CENTS", int, 39900)
ORDER_CURRENCY = _env("ORDER_CURRENCY", str, "eur").lower()
ORDER_SLO_SECONDS = _env("ORDER_SLO_SECONDS", int, 25 * 60)
# The customer's journey (orders/checkout.py, refunds.py, revisions.py).
STRIPE_API_KEY = _env("STRIPE_API_KEY", str, "")  # sk_... : Checkout Sessions and refunds (never logged)
STRIPE_API_BASE = _env("STRIPE_API_BASE", str, "https://api.stripe.com").rstrip("/")  # tests: a local fake
STRIPE_TIMEOUT_SECONDS = _env("STRIPE_TIMEOUT_SECONDS", float, 10.0)
# With no STRIPE_API_KEY, `make run` (DEBUG) still lets a visitor order: the order page sends them to a local
# stand-in for Checkout that says it is one and marks the order paid, no card and no money. Never in production.
ORDER_DEMO_CHECKOUT = _env("ORDER_DEMO_CHECKOUT", bool, DEBUG)  # used only while STRIPE_API_KEY is empty
if ORDER_DEMO_CHECKOUT and _env("DJANGO_PRODUCTION", bool, False):
    raise ImproperlyConfigured("ORDER_DEMO_CHECKOUT marks orders paid without a payment: never in production.")
ORDER_REVISIONS_INCLUDED = _env("ORDER_REVISIONS_INCLUDED", int, 2)  # "request changes" after delivery
ORDER_REFUND_ON_CANCEL = _env("ORDER_REFUND_ON_CANCEL", bool, True)  # staff cancel a paid, undelivered order
SUPPORT_EMAIL = _env("SUPPORT_EMAIL", str, "hello@studio.example")  # the address customers are told to write to
CUSTOMER_TIME_ZONE = _env("CUSTOMER_TIME_ZONE", str, "Europe/Paris")  # "nouvelle tentative à 14:32" is in it

# --- Secrets (never logged) -------------------------------------------------
STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET", str, "")
WEBHOOK_SECRET = _env("WEBHOOK_SECRET", str, "")
WEBHOOK_SECRET_NEXT = _env("WEBHOOK_SECRET_NEXT", str, "")
CRON_SECRET = _env("CRON_SECRET", str, "")

# --- The engine --------------------------------------------------------------
# What each setting is, and its default, is orchestration/conf.py's (DEFAULTS, read through
# `engine_settings`); only the variables that are set land here. Bad values (DISPATCH_MODE
# other than inline/http, a malformed ENGINE_CONCURRENCY_LIMITS) are reported by the system
# checks (orchestration.E001...), which every command, the workers and config/wsgi.py run first.
_ENGINE_VARIABLES = {
    # setting: (environment variable, type)
    "DISPATCH_MODE": ("DISPATCH_MODE", str),
    "SAFETY_MARGIN_SECONDS": ("ENGINE_SAFETY_MARGIN_SECONDS", float),
    "LEASE_SECONDS": ("ENGINE_LEASE_SECONDS", float),
    "CLAIM_BATCH_SIZE": ("ENGINE_CLAIM_BATCH_SIZE", int),
    "NOTIFY": ("ENGINE_NOTIFY", bool),
    "POLL_INTERVAL_SECONDS": ("ENGINE_POLL_INTERVAL_SECONDS", float),
    "FAULTS": ("ENGINE_FAULTS", str),
    "ACTION_MODULES": ("ENGINE_ACTION_MODULES", list),
    "HTTP_RESPOND_ASYNC": ("DISPATCH_RESPOND_ASYNC", bool),
    "CONCURRENCY_LIMITS": ("ENGINE_CONCURRENCY_LIMITS", str),  # parsed by the engine (orchestration/limits.py)
}
ORCHESTRATION = {
    setting: _env(variable, cast, None)
    for setting, (variable, cast) in _ENGINE_VARIABLES.items()
    if variable in os.environ
}
# What turns a fault plan (ENGINE_FAULTS) into the executor's fault hook: the load test's, loaded
# only when a plan is set, so the engine never imports the load test otherwise.
ORCHESTRATION["FAULT_INJECTOR"] = "loadtest.faults.injector"
# Defaults that depend on the environment. Prepare the queue's statements unless behind a pooler
# (see PREPARE_STATEMENTS above). Kick /api/workflows/execute after a commit that made work ready:
# on by default on Vercel, which sets VERCEL=1 in every function's environment.
ORCHESTRATION["PREPARE"] = PREPARE_STATEMENTS
ORCHESTRATION["KICK"] = _env("ENGINE_KICK", bool, _env("VERCEL", bool, False))
# Where the engine reaches the agent routes and /api/workflows/execute in HTTP dispatch mode.
AGENTS_BASE_URL = _env("AGENTS_BASE_URL", str, SITE_URL).rstrip("/")

# --- Agents' providers (offline defaults; real ones switched on by the environment) ---
DEPLOY_PROVIDER = _env("DEPLOY_PROVIDER", str, "local")  # "local" (served at /sites/<slug>/) or "vercel"
VERCEL_TOKEN = _env("VERCEL_TOKEN", str, "")
VERCEL_TEAM_ID = _env("VERCEL_TEAM_ID", str, "")
VERCEL_PROJECT = _env("VERCEL_PROJECT", str, "")
VERCEL_API_BASE = _env("VERCEL_API_BASE", str, "https://api.vercel.com")
VERCEL_POLL_SECONDS = _env("VERCEL_POLL_SECONDS", float, 3.0)  # how often a building deployment is polled
LLM_BASE_URL = _env("LLM_BASE_URL", str, "")  # an OpenAI-compatible chat-completions API
LLM_API_KEY = _env("LLM_API_KEY", str, "")
LLM_MODEL = _env("LLM_MODEL", str, "gpt-4o-mini")
# One HTTP request to the model (connect + answer); a slow answer is retried, then the step retries.
LLM_TIMEOUT_SECONDS = _env("LLM_TIMEOUT_SECONDS", float, 30.0)
if DEPLOY_PROVIDER not in {"local", "vercel"}:
    raise ImproperlyConfigured("Environment variable DEPLOY_PROVIDER must be 'local' or 'vercel'.")
for _name, _seconds in (("LLM_TIMEOUT_SECONDS", LLM_TIMEOUT_SECONDS), ("VERCEL_POLL_SECONDS", VERCEL_POLL_SECONDS)):
    if not 0 < _seconds <= 600:
        raise ImproperlyConfigured(f"Environment variable {_name} must be between 0 and 600 seconds, got {_seconds}.")

# --- Metrics ---------------------------------------------------------------------
METRICS_TOKEN = _env("METRICS_TOKEN", str, "")  # bearer token for GET /metrics (Prometheus)
METRICS_RETENTION_DAYS = _env("METRICS_RETENTION_DAYS", int, 30)  # raw agent runs older than this are pruned
# Alert thresholds, checked by every rollup (one staff email per 5-minute window).
METRICS_ALERT_ERROR_RATE = _env("METRICS_ALERT_ERROR_RATE", float, 0.01)  # share of attempts that fail
METRICS_ALERT_OLDEST_WAITING_SECONDS = _env("METRICS_ALERT_OLDEST_WAITING_SECONDS", float, 300.0)
# An unhandled exception's group is emailed to staff at most once per this many seconds (by the rollup).
METRICS_ERROR_MAIL_WINDOW_SECONDS = _env("METRICS_ERROR_MAIL_WINDOW_SECONDS", int, 3600)
METRICS_ALERT_DB_CONNECTIONS = _env("METRICS_ALERT_DB_CONNECTIONS", int, 80)  # Postgres pg_stat_activity

# --- REST framework ----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "gateway.authentication.GuardedTokenAuthentication",  # rejected tokens count per address
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "gateway.exceptions.api_exception_handler",
    # drf-spectacular's, with descriptions never taken from docstrings and every error documented.
    "DEFAULT_SCHEMA_CLASS": "gateway.docs.GatewayAutoSchema",
    # Per client (token user, else IP) and scope; see core/throttling.py.
    "DEFAULT_THROTTLE_RATES": {
        "intake": _env("THROTTLE_INTAKE", str, "30/min"),
        "public": _env("THROTTLE_PUBLIC", str, "120/min"),
        "webhook": _env("THROTTLE_WEBHOOK", str, "600/min"),
        "staff": _env("THROTTLE_STAFF", str, "600/min"),
        "customer": _env("THROTTLE_CUSTOMER", str, "300/min"),
        "contact": _env("THROTTLE_CONTACT", str, "5/hour"),  # a published site's contact form, per visitor
        "order": _env("THROTTLE_ORDER", str, "10/min"),  # order-form and change-request submissions
        # Rejected tokens and cron secrets per client address; past it, any credential from there gets 429.
        "auth_failures": _env("THROTTLE_AUTH_FAILURES", str, "20/min"),
    },
}

# Who the client of an anonymous request is, for rate limits (core/throttling.py). X-Forwarded-For is
# whatever the client wrote unless a proxy we run rewrote it, so it is read only as far as we trust it:
# TRUSTED_PROXY_COUNT proxies in front of us each append the address they saw (0: none, REMOTE_ADDR is
# the client). CLIENT_IP_HEADER names a header the platform sets itself and clients cannot forge;
# on Vercel (VERCEL=1) it defaults to X-Vercel-Forwarded-For, which Vercel overwrites on every request.
TRUSTED_PROXY_COUNT = _env("TRUSTED_PROXY_COUNT", int, 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("Environment variable TRUSTED_PROXY_COUNT is invalid: it must be 0 or more.")
CLIENT_IP_HEADER = _env("CLIENT_IP_HEADER", str, "X-Vercel-Forwarded-For" if _env("VERCEL", bool, False) else "")

SPECTACULAR_SETTINGS = {
    "TITLE": "Site factory API",
    "DESCRIPTION": (
        "Orders (intake, status), payments, agent callbacks and the workflow engine's controls.\n\n"
        "**Authentication.** Integrations send `Authorization: Token <key>` (a key made with "
        "`manage.py drf_create_token <username>`); staff signed in to the back office may use their session. "
        "Stripe signs its webhook (`Stripe-Signature`), the agents and the engine sign theirs (Standard "
        "Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`), Vercel's cron sends "
        "`Authorization: Bearer $CRON_SECRET`. Each operation names the scheme it accepts.\n\n"
        '**Errors.** Every error has one JSON shape, `{"error": {"code", "message", "detail"}}`: '
        "`code` is stable (for programs), `message` is for people, `detail` names the bad fields or the wait. "
        "400 refused input, 401 no or bad credentials, 403 not allowed, 404 unknown id, 409 a state that does "
        "not allow the act, 413 body too large, 429 too many requests (see `Retry-After`)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "orchestration.models.RunStatus",
        "TaskStatusEnum": "orchestration.models.TaskStatus",
        "ProjectStatusEnum": "orders.models.ProjectStatus",
    },
}

# Bodies above this are refused before anyone parses them (Vercel caps at 4.5 MB anyway).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Logging -----------------------------------------------------------------
LOG_FORMAT = _env("LOG_FORMAT", str, "text")
LOG_LEVEL = _env("LOG_LEVEL", str, "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.logging.JsonFormatter"},
    },
    # Puts request id / project id / task id / attempt (core/logging.py) on every record.
    "filters": {"context": {"()": "core.logging.ContextFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # No `mail_admins` handler (Django's default on the "django" logger): a mail sent from inside a
    # request costs that request an SMTP round trip, and any client could flood staff with them
    # (a bad Host header, a crafted path). Unhandled exceptions are recorded as error groups
    # instead, and the rollup mails each group once per window (metrics.alerts.mail_error_digest).
    # DisallowedHost is a client's mistake: logged, never mailed.
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}

# --- Production hardening ------------------------------------------------------
if _env("DJANGO_PRODUCTION", bool, False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env("SECURE_SSL_REDIRECT", bool, True)
    SECURE_REDIRECT_EXEMPT = [r"^api/"]  # crons and webhooks must never see a 3xx
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    LOG_FORMAT = "json"
    LOGGING["handlers"]["console"]["formatter"] = "json"
