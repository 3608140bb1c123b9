"""The URLconf. Every route the product serves is listed here or in an app's urls."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
