"""Every engine error type maps to exit code 1 (failure) or 2 (bad input), with a one-line message."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import studio.engine
from studio.cli import _report
from studio.engine.errors import EXIT_CODES, StudioError, exit_code_for


def _engine_error_classes():
    for info in pkgutil.walk_packages(studio.engine.__path__, "studio.engine."):
        module = importlib.import_module(info.name)
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Exception) and obj.__module__ == module.__name__:
                yield obj


def test_every_engine_error_has_an_exit_code():
    classes = list(_engine_error_classes())
    assert len(classes) >= 8
    for cls in classes:
        if issubclass(cls, StudioError):
            assert cls.exit_code in (1, 2), cls
        else:
            assert any(c.__name__ in EXIT_CODES for c in cls.__mro__), f"{cls.__module__}.{cls.__name__} has no exit code"


def test_report_is_one_line(capsys):
    from studio.engine.datasets import DatasetError
    from studio.engine.export import ExportError
    assert _report(DatasetError("a.csv, row 3:\nbad\ncell"), debug=False) == 2
    assert _report(ExportError("could not write"), debug=False) == 1
    assert _report(KeyError("boom"), debug=False) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: a.csv, row 3: bad cell"
    assert err[1] == "error: could not write"
    assert err[2].startswith("error: internal error: KeyError: boom") and "--debug" in err[2]
    assert exit_code_for(ValueError("x")) is None
