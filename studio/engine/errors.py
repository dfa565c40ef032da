"""One base for the errors a person can act on, and how each maps to an exit code.

Every engine error carries a one-line message that says what happened and
where. The command line turns each into ``error: <message>`` and an exit
code: 2 when the person's input is at fault (a bad file, argument or
setting), 1 when the work itself failed (training, export, writing a file).
Engine modules that predate this base keep their own classes; they are
mapped by name in :data:`EXIT_CODES` so nothing here imports them.
"""

from __future__ import annotations

FAILURE = 1
BAD_INPUT = 2


class StudioError(Exception):
    """An error with a one-line message; ``exit_code`` says failure (1) or bad input (2)."""

    exit_code = FAILURE

    def __str__(self) -> str:
        return one_line(super().__str__())


# Engine error classes by name (any module under ``studio``), for classes
# that do not derive from StudioError.
EXIT_CODES = {
    "ProjectError": BAD_INPUT,
    "DatasetError": BAD_INPUT,
    "ImportRefused": BAD_INPUT,
    "UnsafeConfigError": BAD_INPUT,
    "GraphError": BAD_INPUT,
    "UnknownLayerError": BAD_INPUT,
    "CodegenError": BAD_INPUT,
    "SettingsError": BAD_INPUT,
    "ExportError": FAILURE,
    "DataMismatch": BAD_INPUT,
    "FineTuneRefused": BAD_INPUT,
    "FeatureExtractionRefused": BAD_INPUT,
    "TrainingError": FAILURE,
    "CompileError": FAILURE,
    "ClusterArgumentError": BAD_INPUT,   # a bad --cluster / --worker-index
    "ClusterError": FAILURE,
}


def one_line(text: str, limit: int = 600) -> str:
    """The message on one line (newlines folded), cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def size_text(n: int) -> str:
    """A byte count for a message: 3.2 GB, 640.0 KB, 12 bytes."""
    for unit, size in (("GB", 10 ** 9), ("MB", 10 ** 6), ("KB", 10 ** 3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,} bytes"


def exit_code_for(exc: BaseException) -> int | None:
    """1 or 2 for an engine error, None for anything else (a bug: report it)."""
    if isinstance(exc, StudioError):
        return exc.exit_code
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("studio.") and cls.__name__ in EXIT_CODES:
            return EXIT_CODES[cls.__name__]
    return None


def message_of(exc: BaseException) -> str:
    """The one-line message of an error (KeyError's quotes removed)."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return one_line(exc.args[0])
    return one_line(str(exc)) or type(exc).__name__


def printable(text) -> str:
    """Text safe to print on a terminal: control characters shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def show_path(path) -> str:
    """A path for a message: control characters escaped, very long ones shortened."""
    text = printable(path)
    return text if len(text) <= 160 else f"{text[:100]}…{text[-50:]}"
