from importlib import import_module

from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # The order workflow and the agents' actions register themselves on import: every
        # process (web, worker, cron, command) must know them, not only the test runner's.
        import_module("agents.workflow")
        import_module("agents.actions")
        import_module("agents.checks")  # registers the deploy checks
