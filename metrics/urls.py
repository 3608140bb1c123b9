"""Routes of the metrics app: the Prometheus endpoint (the dashboard lives in the admin)."""

from django.urls import path

from metrics.views import prometheus_metrics

urlpatterns = [
    path("metrics", prometheus_metrics, name="prometheus-metrics"),
]
