"""What a cold process imports before its first request: every serverless function pays it."""

import functools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@functools.cache  # one cold process answers every test here
def _modules_after_wsgi_import() -> frozenset[str]:
    code = "import sys, config.wsgi; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return frozenset(done.stdout.split())


def test_a_cold_web_process_does_not_import_pillow():
    # Pillow is needed only when an upload is decoded (orders/media.py imports it there); loading
    # it in every process cost each cold start about 20 ms and the workers 4 MB.
    modules = _modules_after_wsgi_import()
    assert "config.wsgi" in modules
    assert not {m for m in modules if m == "PIL" or m.startswith("PIL.")}


def test_a_cold_web_process_does_not_import_the_stripe_library():
    # Only a payment, a checkout or a refund needs it (imported there); every cold function and
    # every worker paid about 0.6 MB for it.
    modules = _modules_after_wsgi_import()
    assert not {m for m in modules if m == "stripe" or m.startswith("stripe.")}
