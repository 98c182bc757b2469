"""Settings of the Django app of `make bench` (workload django_pg).

A production-shaped minimal project: DEBUG off, one app (items) with one
model, one view, one template, PostgreSQL through psycopg. No migrations:
bench/django_site/setup_db.py creates the one table. The database is the
benchmark's own PostgreSQL, on a unix socket in its temporary directory
(BENCH_PG_HOST; bench/lib.sh, pg_start).
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "gatewayd-bench-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["items"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "benchsite.urls"
WSGI_APPLICATION = "benchsite.wsgi.application"

# APP_DIRS with DEBUG off: Django wraps the loaders in its cached loader,
# so the template is parsed once per process.
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": []},
}]

# Persistent connections (one per app thread, kept 60 s), as production
# Django is run: without them every request would open a connection, and
# PostgreSQL's fork per connection would be what is measured.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_PG_DB", "bench"),
        "USER": os.environ.get("BENCH_PG_USER", "bench"),
        "HOST": os.environ.get("BENCH_PG_HOST", "/tmp"),
        "PORT": os.environ.get("BENCH_PG_PORT", "5432"),
        "CONN_MAX_AGE": 60,
    }
}

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Errors to stderr (the server's log), nothing per request.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
