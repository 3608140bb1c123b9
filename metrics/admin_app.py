"""django.contrib.admin with the back office's site as its default (metrics/site.py).

Its own module: an apps module may declare one default AppConfig, and metrics/apps.py has one.
"""

from django.contrib.admin.apps import AdminConfig


class BackofficeAdminConfig(AdminConfig):
    """Branded, "Needs attention" as its home page, apps in the order of the job."""

    default_site = "metrics.site.BackofficeAdminSite"
