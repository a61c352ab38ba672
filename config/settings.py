"""Tsunagu settings: everything comes from the environment, with safe development defaults.

Production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, REDIS_URL (see README). Without DATABASE_URL /
REDIS_URL the embedded PostgreSQL and Redis from config/embedded.py are started (development and tests only).
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# pytest (>= 8.2) exports PYTEST_VERSION for the whole session, including servers the tests start.
TESTING = "PYTEST_VERSION" in os.environ
# The production image sets TSUNAGU_PRODUCTION=1 (and DEBUG=0): there DEBUG is off unless asked for, and asking for it
# stops the start (debug pages show settings and code to anyone). `make run` and `make test` keep DEBUG on.
PRODUCTION = env_bool("TSUNAGU_PRODUCTION", False)
DEBUG = env_bool("DEBUG", not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production (TSUNAGU_PRODUCTION=1): unset DEBUG or set DEBUG=0")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Absolute links (the OAuth callback, invitation and notification emails, a mailbox's inbound URL). Unset, they point
# where `make run` serves: HOST and PORT (a wildcard host is reached on loopback).
_link_host = os.environ.get("HOST", "127.0.0.1")
if _link_host in {"0.0.0.0", "::", "[::]", ""}:
    _link_host = "127.0.0.1"
SITE_URL = (os.environ.get("SITE_URL") or f"http://{_link_host}:{os.environ.get('PORT', '8000')}").rstrip("/")
# Where vulnerabilities are reported (served as /.well-known/security.txt, RFC 9116): comma-separated mailto: or
# https: URIs, by default security@ the site's host.
SECURITY_CONTACTS = [
    c.strip()
    for c in (os.environ.get("SECURITY_CONTACT") or f"mailto:security@{urlparse(SITE_URL).hostname}").split(",")
    if c.strip()
]
SECURITY_POLICY_URL = os.environ.get("SECURITY_POLICY_URL", "")

# --- services ---------------------------------------------------------------------------------------------------
_missing = {name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)}
if _missing:
    from config import embedded  # only without external services: production images do not install it

    os.environ.update(embedded.service_urls(database="DATABASE_URL" in _missing, redis="REDIS_URL" in _missing))
DATABASE_URL = os.environ["DATABASE_URL"]
REDIS_URL = os.environ["REDIS_URL"]


def parse_database_url(url: str) -> dict:
    """postgresql://user:password@host:port/name?host=/socket/dir&sslmode=require"""
    parts = urlparse(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured("DATABASE_URL must be a postgresql:// URL (Tsunagu runs on PostgreSQL only)")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host = query.pop("host", None) or unquote(parts.hostname or "")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": query,
        "TEST": {"NAME": os.environ.get("TEST_DATABASE_NAME") or None},
    }


DATABASES = {"default": parse_database_url(DATABASE_URL)}
if env_bool("DB_POOL", False):
    # The ASGI server (config/asgi.py turns this on) borrows connections from a psycopg pool: a new PostgreSQL
    # backend per request cost more than a webhook's whole work. Celery workers keep one connection per process.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # No round trip to test each borrowed connection (a tenth of a webhook's work): the pool drops a connection that
    # broke in use, so after a database restart each pooled connection fails one request, then is replaced.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("DB_POOL_MAX_SIZE", "10")),
        "timeout": 10,
    }

# A streaming replica for the analytics reads (core/db_replica.py): same options as `default`, its own pool.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **parse_database_url(DATABASE_REPLICA_URL),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": DATABASES["default"]["CONN_HEALTH_CHECKS"],
        "TEST": {"MIRROR": "default"},
    }
    if "pool" in DATABASES["default"]["OPTIONS"]:
        DATABASES["replica"]["OPTIONS"]["pool"] = dict(DATABASES["default"]["OPTIONS"]["pool"])
DATABASE_ROUTERS = ["core.db_replica.ReplicaRouter"]


def redis_url_with_db(url: str, db: int) -> str:
    parts = urlparse(url)
    return parts._replace(path=f"/{db}").geturl()


# Tests use their own Redis database so they never flush development data.
REDIS_DB = int(os.environ.get("REDIS_DB", "15" if TESTING else urlparse(REDIS_URL).path.lstrip("/") or "0"))
REDIS_URL = redis_url_with_db(REDIS_URL, REDIS_DB)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tsunagu",
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # A busy inbox sends a browser hundreds of events a second; the default 100 per channel would drop some.
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "tsunagu:asgi", "capacity": 5000, "expiry": 120},
    }
}

# --- applications -----------------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "channels",
    "core",
    "accounts",
    "inbox",
    "automation",
    "tickets",
    "channels_integrations",
    "approvals",
    "analytics",
    "analytics.reports",
    "analytics.listening",
    "assets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.TenantMiddleware",
    "accounts.middleware.LanguageAndTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.middleware.NotFoundPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"
# The tenant model, named like AUTH_USER_MODEL for `core`, which sits below `accounts` (core.tenancy).
TENANT_MODEL = "accounts.Organization"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
                "django.template.context_processors.i18n",
                "accounts.context_processors.tenancy",
                "channels_integrations.context_processors.channel_problems",
            ]
        },
    }
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
# Django's default hasher costs ~0.3 s per check; tests create many users.
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Login throttling: failures per (email, IP) and per IP inside the window lock further attempts for the window.
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_IP_FAILURE_LIMIT = int(os.environ.get("LOGIN_IP_FAILURE_LIMIT", "30"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "900"))
# Per account, from any IP: after this many failures each further attempt waits 2^(failures - limit) seconds after
# the last failure, at most LOGIN_ACCOUNT_MAX_DELAY. The count is forgotten LOGIN_ACCOUNT_WINDOW seconds after the
# last failure, and a successful sign-in or password reset clears it: never a permanent lock.
LOGIN_ACCOUNT_FAILURE_LIMIT = int(os.environ.get("LOGIN_ACCOUNT_FAILURE_LIMIT", "10"))
LOGIN_ACCOUNT_MAX_DELAY = int(os.environ.get("LOGIN_ACCOUNT_MAX_DELAY", "900"))
LOGIN_ACCOUNT_WINDOW = int(os.environ.get("LOGIN_ACCOUNT_WINDOW", str(24 * 3600)))
# Reverse proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For is believed for the client IP.
# Empty (the default): X-Forwarded-For is ignored, as it must be when clients reach the app directly.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or network") from None
if os.environ.get("TRUSTED_PROXY_COUNT", "0").strip() not in {"", "0"} and not TRUSTED_PROXIES:
    # A count alone let any client that reached the app directly choose its own address.
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT is replaced by TRUSTED_PROXIES (the proxies' addresses)")

INVITATION_MAX_AGE = timedelta(days=7)

# Self-service sign-up (SIGNUP_OPEN=0 turns it off: people then join only by invitation). Requests per IP and per
# address inside the window; the emailed confirmation link is valid for SIGNUP_LINK_MAX_AGE seconds.
SIGNUP_OPEN = env_bool("SIGNUP_OPEN", True)
SIGNUP_IP_LIMIT = int(os.environ.get("SIGNUP_IP_LIMIT", "10"))
SIGNUP_EMAIL_LIMIT = int(os.environ.get("SIGNUP_EMAIL_LIMIT", "3"))
SIGNUP_WINDOW_SECONDS = int(os.environ.get("SIGNUP_WINDOW_SECONDS", "3600"))
SIGNUP_LINK_MAX_AGE = int(os.environ.get("SIGNUP_LINK_MAX_AGE", str(48 * 3600)))
OTP_TOTP_ISSUER = "Tsunagu"

# --- security ---------------------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(14 * 24 * 3600)))
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Preload listing is hard to undo, so it is each deployment's explicit choice (SECURE_HSTS_PRELOAD=1).
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Content-Security-Policy: no inline script, no third-party origin; WebSockets to ourselves only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", "ws:", "wss:"] if DEBUG else ["'self'", "wss:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- i18n / time ------------------------------------------------------------------------------------------------
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Our date formats per language (config/formats/<lang>/formats.py): weekday and 24-hour clock in both.
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

# --- static / media ---------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / ".data" / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / ".data" / "media"))
# Stored files (attachments) are served only through views that check access (core.files.serve_file), never from
# MEDIA_URL. FILES_OFFLOAD hands the bytes to the web server in front: "x-accel-redirect" (nginx; the file is at
# FILES_OFFLOAD_PREFIX + its storage name, an `internal` location aliased to MEDIA_ROOT) or "x-sendfile" (Apache
# mod_xsendfile, lighttpd; the file's path). Empty: Django streams the file itself.
FILES_OFFLOAD = os.environ.get("FILES_OFFLOAD", "").strip().lower()
FILES_OFFLOAD_PREFIX = os.environ.get("FILES_OFFLOAD_PREFIX", "/protected-files/")
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Asset library (issue 19): per-file limit and per-organization quota (AssetLimits overrides both per organization),
# the largest image Pillow will decode (more pixels is refused as a decompression bomb), how long an unfinished
# resumable upload is kept. Files go to the default storage, or to an S3-compatible bucket when ASSETS_S3_BUCKET is
# set (needs `pip install -e .[s3]`; credentials as boto3 reads them: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
ASSETS_MAX_FILE_BYTES = int(os.environ.get("ASSETS_MAX_FILE_BYTES", str(500 * 1024 * 1024)))
ASSETS_QUOTA_BYTES = int(os.environ.get("ASSETS_QUOTA_BYTES", str(10 * 1024 * 1024 * 1024)))
ASSETS_MAX_IMAGE_PIXELS = int(os.environ.get("ASSETS_MAX_IMAGE_PIXELS", str(50_000_000)))
ASSETS_UPLOAD_EXPIRY_HOURS = int(os.environ.get("ASSETS_UPLOAD_EXPIRY_HOURS", "24"))
ASSETS_EXPIRY_NOTICE_DAYS = int(os.environ.get("ASSETS_EXPIRY_NOTICE_DAYS", "7"))  # owners are told this early
ASSETS_S3_BUCKET = os.environ.get("ASSETS_S3_BUCKET", "")
ASSETS_S3_ENDPOINT_URL = os.environ.get("ASSETS_S3_ENDPOINT_URL", "")
ASSETS_S3_REGION = os.environ.get("ASSETS_S3_REGION", "")
ASSETS_S3_PREFIX = os.environ.get("ASSETS_S3_PREFIX", "")

# --- email ------------------------------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Where EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend writes each message (the first-day browser
# test reads the confirmation and invitation links from there).
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / ".data" / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Tsunagu <no-reply@tsunagu.example>")

# --- REST API ---------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tsunagu API",
    "DESCRIPTION": "Organization-scoped REST API. Authenticate with `Authorization: Token <key>` or a session.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AssetKindEnum": "assets.models.AssetKind",
        "AssetStatusEnum": "assets.models.AssetStatus",
        "ContactAttributeTypeEnum": "tickets.models.contacts.AttributeType",
        "DuplicateSuggestionStatusEnum": "tickets.models.contacts.SuggestionStatus",
        "RoleKeyEnum": "accounts.roles.RoleKey",
        "TicketStatusEnum": "tickets.models.TicketStatus",
    },
    # The default hook (enums as components), then the error responses (400/401/403/404/409) every operation can give.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.document_error_responses",
    ],
}

# --- Celery -----------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
# Celery's Django fixup closes every database connection after every task unless this is set; then it closes them
# only every 2 x this many tasks, and config/celery.py closes broken or expired ones (WORKER_DB_CONN_MAX_AGE) after
# each task. A new PostgreSQL backend per ingest task doubled the database's share of the ingest.
CELERY_DB_REUSE_MAX = 500
# Received webhook events are processed in batches of up to this many per transaction (channels_integrations.services
# events_process_pending): fewer round trips per message; a larger batch delays its first message a little longer.
INGEST_BATCH = int(os.environ.get("INGEST_BATCH", "50"))
# Seconds a web process, having queued a connection's ingest, queues nothing more for it; each ingest task looks for
# events once more this long after its last claim (channels_integrations.services.ingest_wake).
INGEST_WAKE_DEBOUNCE = float(os.environ.get("INGEST_WAKE_DEBOUNCE", "0.05"))
# How long a process remembers which connections a webhook's page id names (channels_integrations/webhooks.py). Off in
# tests: their rolled-back connections would be remembered across tests.
WEBHOOK_ACCOUNT_MEMORY_SECONDS = float(os.environ.get("WEBHOOK_ACCOUNT_MEMORY_SECONDS", "0" if TESTING else "5"))
# Automation setups (compiled rules, auto-responses, SLA policies…) one process keeps, least recently used dropped
# first (automation/setup_cache.py): a process's memory does not grow with the number of organizations it serves.
AUTOMATION_SETUP_CACHE_ENTRIES = int(os.environ.get("AUTOMATION_SETUP_CACHE_ENTRIES", "2000"))
# And the megabytes they may hold in each process (estimated when loaded): 200 compiled rules take about 1 MB, a bare
# organization's setup a few KB.
AUTOMATION_SETUP_CACHE_MB = float(os.environ.get("AUTOMATION_SETUP_CACHE_MB", "32"))
# How long what only operators read is kept (pruned hourly by beat): processed raw platform events, the attempt log of
# everything retried (core.retry), and delivered real-time events (a browser away longer reloads instead of replaying).
INBOUND_EVENT_RETENTION_DAYS = int(os.environ.get("INBOUND_EVENT_RETENTION_DAYS", "30"))
ATTEMPT_RETENTION_DAYS = int(os.environ.get("ATTEMPT_RETENTION_DAYS", "90"))
REALTIME_EVENT_RETENTION_SECONDS = int(os.environ.get("REALTIME_EVENT_RETENTION_SECONDS", "3600"))
# The rules' log (why a rule acted) on tickets solved or closed longer than this (automation.rules.pruning).
RULE_RUN_RETENTION_DAYS = int(os.environ.get("RULE_RUN_RETENTION_DAYS", "90"))
# The REST API's Idempotency-Key: how long a key's first answer is kept (then pruned hourly), and how long a concurrent
# retry waits for the request holding the key before it is answered 409 (tickets/services/api_intake.py).
API_IDEMPOTENCY_KEY_HOURS = int(os.environ.get("API_IDEMPOTENCY_KEY_HOURS", "24"))
API_IDEMPOTENCY_WAIT_SECONDS = float(os.environ.get("API_IDEMPOTENCY_WAIT_SECONDS", "10"))
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# A task whose worker died unacknowledged is redelivered after the visibility timeout; stuck inbound events are also
# re-queued by the `channels.sweep_events` beat job after 5 minutes, so nothing waits the full hour. A countdown is
# held unacknowledged too: retries wait in hops of half this timeout (core.retry.retry_later) so none runs twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": int(os.environ.get("CELERY_UNACKED_RESTORE_THROTTLE", "10")),
}
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / ".data" / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    "wake-snoozed-tickets": {"task": "tickets.wake_snoozed_everywhere", "schedule": 60.0},
    "prune-realtime-events": {"task": "core.prune_realtime_events", "schedule": 600.0},
    "prune-inbound-events": {"task": "channels.prune_events", "schedule": 3600.0},
    "prune-attempts": {"task": "core.prune_attempts", "schedule": 3600.0},
    "prune-idempotency-keys": {"task": "tickets.prune_idempotency_keys", "schedule": 3600.0},
    "prune-rule-runs": {"task": "automation.prune_rule_runs", "schedule": 3600.0},
    "poll-channels": {"task": "channels.poll_due", "schedule": 15.0},
    "refresh-channel-tokens": {"task": "channels.refresh_tokens", "schedule": 3600.0},
    "requeue-stuck-events": {"task": "channels.sweep_events", "schedule": 120.0},
    "time-based-rules": {"task": "automation.run_scheduled_rules_everywhere", "schedule": 60.0},
    "sla-scan": {"task": "automation.sla_scan_everywhere", "schedule": 30.0},
    "drain-assignment-queues": {"task": "automation.drain_queues_everywhere", "schedule": 60.0},
    # Replies whose send task was lost (tickets/services/delivery.py replies_stranded).
    "send-stranded-replies": {"task": "tickets.send_stranded_replies", "schedule": 60.0},
    # Reporting facts from the history committed since the last run (analytics/services.py).
    "analytics-consume": {"task": "analytics.consume", "schedule": 60.0, "options": {"queue": "analytics"}},
    # Social listening: a poll for each connection whose poll is due (analytics/listening/tasks.py).
    "listening-poll": {"task": "listening.poll_due", "schedule": 60.0, "options": {"queue": "analytics"}},
    # Scheduled reports now due: one run each, emailed by a task per run (analytics/reports/services.py).
    "scheduled-reports": {"task": "analytics_reports.dispatch", "schedule": 900.0, "options": {"queue": "analytics"}},
    # Satisfaction surveys whose delay after the solve has passed (tickets/services/survey_sending.py).
    "send-due-surveys": {"task": "tickets.send_due_surveys_everywhere", "schedule": 60.0},
    # Retention policies (tickets/services/privacy.py): nightly, at 03:30 in Japan.
    "privacy-retention": {"task": "tickets.retention_everywhere", "schedule": crontab(hour=18, minute=30)},
    # Contact exports downloaded or expired: their files go.
    "privacy-exports-sweep": {"task": "tickets.privacy_exports_sweep_everywhere", "schedule": 3600.0},
    # Approval reminders and escalations of late steps (approvals/approval_tasks.py).
    "approval-reminders": {"task": "approvals.sweep_everywhere", "schedule": 60.0},
    # Scheduled posts: whatever is due (or stuck publishing) is queued; etas alone would not survive restarts.
    "publish-due-posts": {"task": "approvals.publish_due_everywhere", "schedule": 60.0},
    # Resumable asset uploads abandoned for ASSETS_UPLOAD_EXPIRY_HOURS: rows and partial files go (assets/uploads.py).
    "asset-uploads-expire": {"task": "assets.expire_uploads", "schedule": 3600.0},
    # Owners of assets that expire within ASSETS_EXPIRY_NOTICE_DAYS hear about it once (assets/services/expiry.py).
    "asset-expiry-notices": {"task": "assets.notify_expiring_everywhere", "schedule": 3600.0},
    # Asset files no version names (a worker killed between storing and committing): daily (assets/services/expiry.py).
    "asset-files-sweep": {"task": "assets.sweep_files_everywhere", "schedule": 86400.0},
}
# Tests run task bodies in-process (the real code, no broker hop); end-to-end tests start a real worker.
CELERY_TASK_ALWAYS_EAGER = TESTING and not env_bool("CELERY_REAL_WORKER", False)
CELERY_TASK_EAGER_PROPAGATES = True

# Rules may call external URLs; outside development they may not call private addresses (no requests into our own
# network through a rule).
# A rejected webhook request (bad signature, unknown connection...) is logged and counted every time, but written to
# the audit log at most once per connection and reason in this many seconds.
WEBHOOK_REJECTION_AUDIT_SECONDS = int(os.environ.get("WEBHOOK_REJECTION_AUDIT_SECONDS", "3600"))

# Connections a tenant chooses the destination of (a mailbox's IMAP/SMTP servers, a rule's URL) may reach loopback and
# private addresses only in development and tests (core.outbound_http).
OUTBOUND_ALLOW_PRIVATE = env_bool("OUTBOUND_ALLOW_PRIVATE", DEBUG or TESTING)
RULE_WEBHOOKS_ALLOW_PRIVATE = env_bool("RULE_WEBHOOKS_ALLOW_PRIVATE", OUTBOUND_ALLOW_PRIVATE)
# Search: also match vectors the old bigram segmenter wrote, until `manage.py reindex_search` has run.
SEARCH_LEGACY_QUERIES = env_bool("SEARCH_LEGACY_QUERIES", True)
# DNS for inbound mail's DKIM, SPF and DMARC records: the system's resolver, or "off" (every lookup answers "no
# record", so mail is "not checked"): tests never depend on the public DNS; their mail checks bring their own records.
EMAIL_AUTH_DNS = os.environ.get("EMAIL_AUTH_DNS", "off" if TESTING else "system")
if EMAIL_AUTH_DNS not in ("system", "off"):
    raise ImproperlyConfigured("EMAIL_AUTH_DNS must be 'system' or 'off'")

# --- logging ----------------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "pgserver": {"level": "WARNING"},
        # Its debug lines carry request URLs, and the Telegram Bot API puts the bot's token in every URL.
        "urllib3": {"level": "INFO"},
    },
}

# --- Channels (platform connectors) ------------------------------------------------------------------------------
# Connection credentials are encrypted with these Fernet keys (newest first; see channels_integrations/crypto.py).
ENCRYPTION_KEYS = env_list("TSUNAGU_ENCRYPTION_KEYS", "")
if not ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("TSUNAGU_ENCRYPTION_KEYS must be set when DEBUG is off")
    import base64 as _b64
    import hashlib as _hashlib

    ENCRYPTION_KEYS = [_b64.urlsafe_b64encode(_hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]

# Platform base URLs are settings so the same connector code talks to the real platform or to the simulator.
# Tests that do not start the simulator get a loopback port nothing listens on: refused at once, never the internet.
_NOWHERE = "http://127.0.0.1:9" if TESTING else ""
META_GRAPH_URL = os.environ.get("META_GRAPH_URL", _NOWHERE or "https://graph.facebook.com")
META_GRAPH_VERSION = os.environ.get("META_GRAPH_VERSION", "v24.0")
META_DIALOG_URL = os.environ.get("META_DIALOG_URL", _NOWHERE or "https://www.facebook.com")
INSTAGRAM_GRAPH_URL = os.environ.get("INSTAGRAM_GRAPH_URL", _NOWHERE or "https://graph.instagram.com")
# Phone (issue 18): Twilio's REST API (the number's Account SID and Auth Token are per connection, encrypted).
TWILIO_API_URL = os.environ.get("TWILIO_API_URL", _NOWHERE or "https://api.twilio.com")
TELEGRAM_API_URL = os.environ.get("TELEGRAM_API_URL", _NOWHERE or "https://api.telegram.org")
# X (issue 18): the API and the OAuth 2.0 dialog, the app's OAuth 2.0 client, and its consumer secret (the API key
# secret) that signs Account Activity webhooks and answers their CRC. X_WEBHOOK_ID set: accounts are subscribed to
# that registered webhook; empty: accounts are polled.
X_API_URL = os.environ.get("X_API_URL", _NOWHERE or "https://api.x.com")
X_AUTHORIZE_URL = os.environ.get("X_AUTHORIZE_URL", _NOWHERE or "https://x.com/i/oauth2/authorize")
X_CLIENT_ID = os.environ.get("X_CLIENT_ID", "")
X_CLIENT_SECRET = os.environ.get("X_CLIENT_SECRET", "")
X_CONSUMER_SECRET = os.environ.get("X_CONSUMER_SECRET", "")
X_WEBHOOK_ID = os.environ.get("X_WEBHOOK_ID", "")
META_APP_ID = os.environ.get("META_APP_ID", "")
META_APP_SECRET = os.environ.get("META_APP_SECRET", "")
META_VERIFY_TOKEN = os.environ.get("META_VERIFY_TOKEN", "")
# LINE Messaging API (issue 18): the API and its content host (api-data: message content downloads). Each connection
# carries its own channel secret and token; nothing app-wide.
LINE_API_URL = os.environ.get("LINE_API_URL", _NOWHERE or "https://api.line.me")
LINE_API_DATA_URL = os.environ.get("LINE_API_DATA_URL", _NOWHERE or "https://api-data.line.me")
# requests-oauthlib insists on https; development and tests talk to the simulator over plain loopback HTTP.
if DEBUG or TESTING:
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")  # Meta grants a subset of scopes without failing the flow
# Outbound HTTP to platforms: (connect, read) seconds.
PLATFORM_HTTP_TIMEOUT = (5.0, 20.0)
