"""The operators' engine commands, `tick` and `run_worker`, as a shell runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.core.management import call_command

from orchestration import services
from orchestration.models import Task, TaskStatus
from tests.conftest import ROOT, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def manage(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=worker_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_tick_runs_due_work_and_says_what_it_did(capsys) -> None:
    services.enqueue_many("engine.noop", [{} for _ in range(3)])
    services.enqueue("test.permanent")
    call_command("tick", "--budget", "30")
    out = capsys.readouterr().out
    assert out.startswith("tick: recovered 0, repaired 0, claimed 4, succeeded 3, failed 1")
    assert not Task.objects.filter(status=TaskStatus.QUEUED).exists()


def test_tick_json_is_one_object_with_every_count(capsys) -> None:
    services.enqueue("engine.noop")
    call_command("tick", "--json", "--max-tasks", "1")
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "recovered": 0,
        "repaired": 0,
        "claimed": 1,
        "succeeded": 1,
        "failed": 0,
        "continued": 0,
        "released": 0,
        "stale": 0,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tick", "--budget", "0"], "expected a positive number of seconds, got '0'"),
        (["tick", "--budget", "nan"], "expected a positive number of seconds, got 'nan'"),
        (["tick", "--max-tasks", "-3"], "expected a number of at least 1, got -3"),
        (["run_worker", "--processes", "0"], "expected a number of at least 1, got 0"),
        (["run_worker", "--poll-interval", "soon"], "expected a number of seconds, got 'soon'"),
        (["run_worker", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_exit_2_with_a_message_naming_the_value(args: list[str], message: str) -> None:
    result = manage(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_run_worker_drain_runs_everything_then_exits_0() -> None:
    ids = services.enqueue_many("test.record", [{} for _ in range(20)])
    result = manage("run_worker", "--processes", "2", "--drain", "--no-listen")
    assert result.returncode == 0, result.stdout + result.stderr
    assert Task.objects.filter(id__in=ids, status=TaskStatus.SUCCEEDED).count() == 20
