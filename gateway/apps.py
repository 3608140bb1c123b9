from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "HTTP gateway"

    def ready(self) -> None:
        from gateway.refused_payments import refused_payments
        from metrics.attention import register_refused_payments

        # metrics' attention lists show the payments this app's inbox refused; metrics, the layer
        # below, does not import the inbox: it is handed the reader here.
        register_refused_payments(refused_payments)
