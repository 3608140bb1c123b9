from django.urls import path

from agents.views import published_site

urlpatterns = [
    path("sites/<slug:slug>/", published_site, name="published-site"),
    path("sites/<slug:slug>/<path:path>", published_site, name="published-site-file"),
]
