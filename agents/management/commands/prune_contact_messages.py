"""Delete contact-form messages older than CONTACT_RETENTION_DAYS (what every site's privacy page promises).

The metrics rollup cron (GET /api/system/metrics, every 5 min on Vercel) applies the same retention; run this
from cron where that route is not called. Safe to run twice.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.contact import contact_messages_prune


class Command(BaseCommand):
    help = "Delete contact-form messages past their retention (default: settings.CONTACT_RETENTION_DAYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="keep this many days instead of the setting")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.CONTACT_RETENTION_DAYS
        if days < 1:
            raise CommandError(f"--days must be at least 1 (got {days})")
        deleted = contact_messages_prune(older_than_days=days)
        self.stdout.write(f"Deleted {deleted} contact message(s) older than {days} days.")
