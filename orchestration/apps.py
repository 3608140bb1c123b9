from importlib import import_module

from django.apps import AppConfig

from orchestration.conf import engine_settings


class OrchestrationConfig(AppConfig):
    name = "orchestration"
    verbose_name = "Orchestration"

    def ready(self) -> None:
        import_module("orchestration.checks")  # registers the engine's settings checks (orchestration.E001...)
        # Actions and workflows register themselves when their modules are imported.
        import_module("orchestration.builtin_actions")
        for module in engine_settings.ACTION_MODULES:
            import_module(module)
