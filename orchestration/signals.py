"""What the engine announces, for the apps above it to act on (error records, staff mail).

The engine imports none of those apps: it sends these signals, synchronously and inside the
transaction that made the change, so a receiver's write commits or rolls back with it, and a
receiver that raises aborts the change (they are sent with `send`, not `send_robust`). A receiver
that talks to the outside world (mail) does so in `transaction.on_commit`.

Every signal is sent with `sender` the model class (`Task` or `WorkflowRun`).
"""

from __future__ import annotations

from django.dispatch import Signal

# An attempt failed (retried later or not). Arguments: task (Task, saved), run (WorkflowRun or
# None), error_type, location, message, traceback (str), timed_out (bool: its lease ran out),
# final (bool: the task is dead, no attempt follows).
attempt_failed = Signal()

# A task outside any workflow run failed for good. Arguments: task (Task, saved), error (str).
task_dead = Signal()

# A run ended (succeeded, failed or cancelled) and its row says so. Arguments: run (WorkflowRun),
# status (str), error (str: why it failed, "" otherwise). Sent after the workflow's own status hook.
run_finished = Signal()
