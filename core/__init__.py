"""What every app uses and no app owns: log context and JSON lines, where an error was raised,
Standard Webhooks signing, and the admin's shared helpers.

The bottom layer: its modules import the standard library, Django and third-party packages only,
never one of our apps or `config` (tests/integration/test_layering.py checks it), so any app may import it.
"""
