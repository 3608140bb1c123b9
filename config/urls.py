"""The URLconf. Each app owns its routes; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

urlpatterns = [
    # The side-effect ledger's admin pages were the agents' before the ledger became the engine's:
    # an old bookmark or link still lands on the same page (for staff: the admin's login first).
    re_path(
        r"^admin/agents/sideeffect/(?P<rest>.*)$",
        admin.site.admin_view(RedirectView.as_view(url="/admin/orchestration/sideeffect/%(rest)s", query_string=True)),
    ),
    path("admin/", admin.site.urls),
    path("", include("metrics.urls")),
    path("", include("orders.urls")),
    path("", include("agents.urls")),
    path("", include("gateway.urls")),
]
