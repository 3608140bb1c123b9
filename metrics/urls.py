"""Routes of the metrics app: the Prometheus endpoint and the staff dashboard."""

urlpatterns: list = []
