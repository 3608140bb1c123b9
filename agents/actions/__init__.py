"""The four agents' actions, registered with the engine on import.

Each is `(ctx) -> output`, reads the project named in the run's input, calls
the pure content modules (design, copywriting, site, ads, mail) and the
providers, and raises RetryableError or PermanentError to say how it failed.
"""

from agents.actions import ads_management, automation, core_platform, design_ia, journey

__all__ = ["ads_management", "automation", "core_platform", "design_ia", "journey"]
