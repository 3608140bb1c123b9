"""Vercel entry: POST /api/automation/deploy (240 s).

On Vercel maxDuration belongs to a function file, so each limit has its own entry
(see vercel.json); every entry serves the same Django WSGI app, which routes by path.
"""

import sys
from pathlib import Path

# The project root, so `config` imports however the runtime sets the working directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.wsgi import app

__all__ = ["app"]
