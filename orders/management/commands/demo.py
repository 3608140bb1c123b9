"""`manage.py demo`: real orders through the whole workflow on this machine, then where to look."""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from orchestration.budget import Budget
from orchestration.cli import positive_float, positive_int
from orchestration.execution import tick
from orders.demo_briefs import DEMO_BRIEFS
from orders.models import Project, ProjectStatus
from orders.selectors import project_progress
from orders.services import project_create, project_mark_paid

TERMINAL = {ProjectStatus.DELIVERED, ProjectStatus.FAILED, ProjectStatus.CANCELLED}


class Command(BaseCommand):
    help = "Take realistic orders from brief to live site (payment, four agents, emails), then print the links."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--orders", type=positive_int, default=1, help="orders to run at once (default 1)")
        parser.add_argument("--timeout", type=positive_float, default=300.0, help="give up after this many seconds")
        parser.add_argument("--port", type=positive_int, default=None, help="port the server will listen on")
        parser.add_argument("--admin-user", default="admin", help="staff login to create once (default admin)")
        parser.add_argument(
            "--reset-admin-password",
            action="store_true",
            help="give the existing staff login a new password (never done without this flag)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        projects = [self._order(i) for i in range(options["orders"])]
        self._drive(projects, timeout=options["timeout"])
        base = settings.SITE_URL if options["port"] is None else f"http://127.0.0.1:{options['port']}"
        login = self._admin(options["admin_user"], reset=options["reset_admin_password"])
        failed = [p for p in projects if p.status != ProjectStatus.DELIVERED]
        for project in projects:
            self.stdout.write(f"{project.business_name}: {project.status}")
            if project.site_url:
                self.stdout.write(f"  site:   {project.site_url}")
            self.stdout.write(f"  status: {base}/status/{project.status_token}/")
        self.stdout.write(f"admin:  {base}/admin/  ({login})")
        if failed:
            raise CommandError(f"{len(failed)} order(s) did not reach delivered; see the admin's errors")

    def _order(self, index: int) -> Project:
        brief = dict(DEMO_BRIEFS[index % len(DEMO_BRIEFS)])
        if index >= len(DEMO_BRIEFS):
            brief["business_name"] = f"{brief['business_name']} {index // len(DEMO_BRIEFS) + 1}"
        project = project_create(**brief)
        # The same service the Stripe webhook calls for a paid checkout session.
        project_mark_paid(
            project_id=project.id,
            checkout_session_id=f"cs_demo_{secrets.token_hex(8)}",
            amount_cents=settings.ORDER_PRICE_CENTS,
            currency=settings.ORDER_CURRENCY,
        )
        return project

    def _drive(self, projects: list[Project], *, timeout: float) -> None:
        total = sum(project_progress(p)["total"] for p in projects)
        deadline = time.monotonic() + timeout
        with tqdm(total=total, desc="steps", unit="step", disable=None) as bar:
            while time.monotonic() < deadline:
                tick(budget=Budget.seconds(min(10.0, deadline - time.monotonic())))
                for p in projects:
                    p.refresh_from_db()
                bar.n = sum(project_progress(p)["done"] for p in projects)
                bar.refresh()
                if all(p.status in TERMINAL for p in projects):
                    return
                time.sleep(0.2)  # retries back off; wait for them rather than spin
        raise CommandError(f"Orders still running after {timeout:.0f} s")

    def _admin(self, username: str, *, reset: bool) -> str:
        """The staff login to print. Created once, with a password printed that one time; an
        existing login is left as it is (its password, its open sessions), unless `reset`."""
        users = get_user_model().objects
        user = users.filter(username=username).first()
        if user is not None and not reset:
            if not (user.is_active and user.is_staff):
                return f"login {username} exists but is not an active staff account: it cannot open the admin"
            return f"login {username} with your existing password (forgot it? manage.py changepassword {username})"
        password = secrets.token_urlsafe(9)
        if user is None:
            user = users.create_superuser(username=username, email="staff@studio.example", password=password)
            return f"login {username} / {password}, created now: write it down, the next demo keeps it"
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        return f"login {username} / {password}, reset as asked by --reset-admin-password"
