from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics and errors"

    def ready(self) -> None:
        from metrics import receivers
        from metrics.management import errors

        receivers.connect()  # error records and staff mail for the engine's failures

        # A crash of `manage.py <command>` becomes an error record (see metrics/management/errors.py).
        errors.install()
