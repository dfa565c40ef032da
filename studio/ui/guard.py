"""Keep a bug in an event handler from taking the application down.

An exception escaping a Qt virtual override (mousePressEvent and friends) is
reported by PySide from C++, and with some exceptions that path crashes the
process. Handlers decorated with :func:`guarded` log the traceback instead
and tell the person in the status bar.
"""

from __future__ import annotations

import functools
import logging

log = logging.getLogger("studio.ui")
errors: list[str] = []  # recent handler errors, newest last (tests assert it stays empty)


def guarded(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - last line of defence in an event handler
            log.exception("error in %s.%s", type(self).__name__, method.__name__)
            errors.append(f"{type(self).__name__}.{method.__name__}: {exc}")
            del errors[:-20]
            from PySide6.QtWidgets import QApplication
            for w in QApplication.topLevelWidgets():
                if hasattr(w, "statusBar") and callable(w.statusBar):
                    w.statusBar().showMessage(f"Internal error (details in the log): {exc}", 8000)
            return None
    return wrapper
