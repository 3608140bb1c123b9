"""What every app's admin uses: read-only rows, who may act on them, and the small HTML pieces
(a status badge, a JSON block, a link to an object's page). The badge and JSON classes are styled
by metrics/static/metrics/backoffice.css."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Model
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString


def badge(value: str, label: str | None = None) -> SafeString:
    return format_html('<span class="badge badge-{}">{}</span>', value, label or value)


def pretty_json(value: Any) -> SafeString:
    return format_html('<pre class="json">{}</pre>', json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def admin_link(obj: Model, label: Any = None) -> SafeString:
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label if label is not None else obj)


class ReadOnlyMixin:
    """Rows written by the system, kept as the record: staff look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ActPermissionMixin:
    """Who may act (replay, cancel, retry, resolve, mute, reprocess) on rows the admin shows read-only.

    Django runs an action that names no permission for anyone who may *view* the list, and these
    admins deny "change" to everyone (the rows change only through acts). So each act declares
    `permissions=["act"]`, granted by `act_permissions` (by default the model's own change
    permission, `<app>.change_<model>`): a view-only staff member sees the page without its
    buttons, and a crafted POST is refused.
    """

    act_permissions: tuple[str, ...] = ()

    def has_act_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        opts = self.model._meta  # type: ignore[attr-defined]
        return request.user.has_perms(self.act_permissions or (f"{opts.app_label}.change_{opts.model_name}",))
