"""Import pyswarms without the `report.log` it leaves behind.

pyswarms 1.3.0 builds a `Reporter` at import time and again for every
optimiser; each one calls `logging.config.dictConfig` with a
RotatingFileHandler on `<cwd>/report.log` (the file is created at once) and a
stream handler on the root logger. We import it with `LOG_CFG` pointing to an
incremental, empty logging config (dictConfig then changes nothing), and
afterwards make `Reporter._setup_logger` a no-op so later optimisers cannot
configure logging either. Handlers it may have added before we got here (some
other import of pyswarms) are removed from the root logger.

Use `pyswarms()` to get the module; never `import pyswarms` directly.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

_LOCK = threading.Lock()
_NOOP_CONFIG = "version: 1\nincremental: true\n"


def _remove_report_handlers() -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        if Path(getattr(h, "baseFilename", "") or "x").name == "report.log":
            root.removeHandler(h)
            h.close()


def pyswarms() -> ModuleType:
    """The pyswarms module, imported so that it writes no log file and leaves logging alone."""
    with _LOCK:
        if "pyswarms" not in sys.modules:
            with tempfile.TemporaryDirectory(prefix="aost-pyswarms-") as tmp:
                cfg = Path(tmp) / "logging.yml"
                cfg.write_text(_NOOP_CONFIG)
                old = os.environ.get("LOG_CFG")
                os.environ["LOG_CFG"] = str(cfg)
                try:
                    import pyswarms  # noqa: F401  (the import is the point)
                finally:
                    if old is None:
                        os.environ.pop("LOG_CFG", None)
                    else:
                        os.environ["LOG_CFG"] = old
        from pyswarms.utils.reporter import reporter as _rep

        _rep.Reporter._setup_logger = lambda self, path=None: None  # type: ignore[method-assign]
        _remove_report_handlers()
        return sys.modules["pyswarms"]
