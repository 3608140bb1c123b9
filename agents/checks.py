"""`manage.py check --deploy`: settings without which the published sites' legal notices are incomplete."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def legal_host_named(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Sites the local provider publishes name their host from LEGAL_HOST_*: a French legal notice must give the
    host's name, address and phone (LCEN art. 6 III). Unset, every notice says only "the operator"."""
    if settings.DEPLOY_PROVIDER == "vercel":
        return []  # the notice names Vercel Inc. (agents.site_ui.VERCEL_HOST)
    missing = [
        name for name in ("LEGAL_HOST_NAME", "LEGAL_HOST_ADDRESS", "LEGAL_HOST_CONTACT") if not getattr(settings, name)
    ]
    if not missing:
        return []
    return [
        Warning(
            f"{', '.join(missing)} unset: the legal notice of every site this server publishes cannot name its host.",
            hint="Set the host's name, postal address and phone (LEGAL_HOST_NAME, LEGAL_HOST_ADDRESS, "
            "LEGAL_HOST_CONTACT), or publish to Vercel (DEPLOY_PROVIDER=vercel).",
            id="agents.W001",
        )
    ]
