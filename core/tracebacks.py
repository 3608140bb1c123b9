"""Where an exception was raised, as 'package.module:function': the key errors are grouped by."""

from __future__ import annotations

import os
import sys
import sysconfig
import traceback as tb
from pathlib import Path

from django.conf import settings


def _library_roots() -> tuple[str, ...]:
    # The standard library and installed packages: a traceback's frames there are not
    # where *our* code went wrong (the virtualenv may sit inside the project directory).
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(key)}
    roots |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
    return tuple(str(Path(root).resolve()) + os.sep for root in roots)


_LIBRARIES = _library_roots()


def is_our_code(filename: str) -> bool:
    """True for a file of this project, not of Python or of an installed package."""
    path = str(Path(filename).resolve())
    root = str(Path(settings.BASE_DIR).resolve()) + os.sep
    return path.startswith(root) and not path.startswith(_LIBRARIES) and "site-packages" not in path


def module_path(filename: str) -> str:
    """'/work/main/agents/providers/deploy.py' -> 'agents.providers.deploy' (the dotted module
    of a file, relative to the project or to the sys.path entry it was imported from)."""
    path = Path(filename).resolve()
    bases = [Path(settings.BASE_DIR).resolve(), *(Path(p).resolve() for p in sys.path if p)]
    for base in sorted(bases, key=lambda b: len(b.parts), reverse=True):
        if base in path.parents:
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts and parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts) or path.stem
    return path.stem


# A local variable naming a frame that only translates one error class into another (the agents'
# `provider_errors`): the error is located where that frame was entered, not inside it, or every
# provider failure of every action would be one group (its mute and its affected orders mixing them).
TRANSLATOR_MARK = "_translates_errors"


def location_of(exc: BaseException) -> str:
    """Where the error comes from, as 'package.module:function': the innermost frame of our
    own code, so that one bug is one group however deep in a library it surfaced (a
    KeyError inside json and one inside requests, raised by two of our functions, are two
    groups; the same bug seen through two library paths is one). Falls back to the
    innermost frame when no frame is ours."""
    frames = [
        summary
        for summary, (frame, _) in zip(tb.extract_tb(exc.__traceback__), tb.walk_tb(exc.__traceback__), strict=True)
        if TRANSLATOR_MARK not in frame.f_locals
    ]
    if not frames:
        return type(exc).__module__
    ours = [frame for frame in frames if is_our_code(frame.filename)]
    frame = (ours or frames)[-1]
    return f"{module_path(frame.filename)}:{frame.name}"
