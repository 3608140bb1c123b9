"""A URLconf for middleware tests: the real one plus views that log and crash."""

import logging

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def logs(request: HttpRequest) -> HttpResponse:
    logging.getLogger("tests.integration.backoffice").warning("inside the view")
    return HttpResponse("ok")


def crashes(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError("the view divided by zero")


urlpatterns = [
    path("logs/", logs),
    path("crashes/", crashes),
    path("", include("config.urls")),
]
