"""The WSGI callable every server serves in workload django_pg:
benchsite.wsgi:application, from bench/django_site."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
application = get_wsgi_application()
