from django.urls import path

from agents.views import published_site, site_contact

urlpatterns = [
    # Before the catch-all file route: a site has no file named "contact" (pages end in .html).
    path("sites/<slug:slug>/contact", site_contact, name="site-contact"),
    path("sites/<slug:slug>/", published_site, name="published-site"),
    path("sites/<slug:slug>/<path:path>", published_site, name="published-site-file"),
]
