from django.urls import path

from orders.landing import landing_page
from orders.views import status_feed, status_page

urlpatterns = [
    path("", landing_page, name="landing"),
    path("status/<str:token>/", status_page, name="status-page"),
    path("status/<str:token>/feed.json", status_feed, name="status-feed"),
]
