"""The URLconf. Each app owns its routes; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("metrics.urls")),
    path("", include("orders.urls")),
    path("", include("agents.urls")),
    path("", include("gateway.urls")),
]
