from django.urls import path

from orders.views import status_feed, status_page

urlpatterns = [
    path("status/<str:token>/", status_page, name="status-page"),
    path("status/<str:token>/feed.json", status_feed, name="status-feed"),
]
