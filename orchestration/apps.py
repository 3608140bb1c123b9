from importlib import import_module

from django.apps import AppConfig
from django.conf import settings


class OrchestrationConfig(AppConfig):
    name = "orchestration"
    verbose_name = "Orchestration"

    def ready(self) -> None:
        # Actions and workflows register themselves when their modules are imported.
        import_module("orchestration.builtin_actions")
        for module in settings.ORCHESTRATION["ACTION_MODULES"]:
            import_module(module)
