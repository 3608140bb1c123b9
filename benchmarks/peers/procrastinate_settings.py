"""Procrastinate's Django contrib, with the benchmark's tasks."""

from benchmarks.peers.base_settings import *  # noqa: F403

INSTALLED_APPS = ["django.contrib.contenttypes", "procrastinate.contrib.django"]
PROCRASTINATE_IMPORT_PATHS = ["benchmarks.peers.procrastinate_tasks"]
