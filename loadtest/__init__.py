"""The load test (`manage.py loadtest`): a tool, not a part of the product. Many paid orders go
through the real workflow with injected faults, and the verdict says whether any was lost or
anything happened twice.

Installed as an app for its management command only: it has no models, and nothing of the
product imports it. The engine meets it at one seam (orchestration/faults.py), which loads the
fault plan (loadtest/faults.py) only when ENGINE_FAULTS holds one.
"""
