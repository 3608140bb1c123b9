"""Django's Tasks framework (django-tasks for Django < 6) on django-tasks-db's database backend."""

from benchmarks.peers.base_settings import *  # noqa: F403

INSTALLED_APPS = ["django.contrib.contenttypes", "django_tasks", "django_tasks_db"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
