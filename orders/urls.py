from django.urls import path

from orders.landing import landing_page
from orders.views import demo_checkout, order_page, status_changes, status_feed, status_page

urlpatterns = [
    path("", landing_page, name="landing"),
    path("order/", order_page, name="order-page"),
    path("order/demo-checkout/<str:token>/", demo_checkout, name="demo-checkout"),
    path("status/<str:token>/", status_page, name="status-page"),
    path("status/<str:token>/feed.json", status_feed, name="status-feed"),
    path("status/<str:token>/changes", status_changes, name="status-changes"),
]
