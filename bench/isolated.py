"""Running a function in a fresh interpreter, for measurements a warm process would distort.

Memory per object is the main use: a fresh process has no freed arenas to reuse and no caches
from earlier cases. The function is named by module and qualified name, takes JSON keyword
arguments and returns a JSON-ready mapping; the child writes it to a file the parent reads.

Run as ``python -m bench.isolated MODULE QUALNAME KWARGS_JSON OUT_PATH`` (the parent does this).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The directory holding the ``bench`` package; the child runs there."""


class IsolatedRunError(RuntimeError):
    """The child process failed; the message carries its exit code and stderr."""


def run_isolated(
    func: Callable[..., Mapping[str, Any]], /, *, timeout: float = 600, **kwargs: Any
) -> dict[str, Any]:
    """Calls func(**kwargs) in a new Python process and returns its result.

    func must be a module-level function of an importable module (not ``__main__``); kwargs and
    the result must be JSON-serializable.
    """
    module, qualname = func.__module__, func.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise ValueError(f"{module}.{qualname} cannot be imported by a child process")
    with tempfile.TemporaryDirectory(prefix="bench-isolated-") as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            "-m",
            "bench.isolated",
            module,
            qualname,
            json.dumps(kwargs),
            str(out),
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        done = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0 or not out.exists():
            raise IsolatedRunError(
                f"{module}.{qualname}({kwargs}) exited with {done.returncode}:\n{done.stderr}"
            )
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def main(argv: Sequence[str]) -> int:
    """The child side: import, call, write the result as JSON."""
    module_name, qualname, kwargs_json, out_path = argv
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    result = target(**json.loads(kwargs_json))
    Path(out_path).write_text(json.dumps(dict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
