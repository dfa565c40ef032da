"""Library output kept off the person's terminal (shown with ``--debug``).

TensorFlow, Keras, zipfile and the TFLite runtime print warnings, deprecation
notices and dumps of tensor specs while a model is loaded or exported: by
Python warnings, by ``print``, by logging, and from C++ straight to file
descriptors 1 and 2. :func:`library_output` holds all four for the length of
a library call and drops them; Layer Studio's own messages are printed
outside such blocks. The command line sets :data:`verbose` for ``--debug``,
and then everything passes through.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import threading
import warnings
from typing import Iterator

verbose = False          # True: let library output through (--debug)
_lock = threading.Lock()
_depth = 0


@contextlib.contextmanager
def _fds_to_file() -> Iterator[None]:
    """File descriptors 1 and 2 point to a temporary file for the block (C++ logging, TF's prints)."""
    saved = []
    try:
        sink = tempfile.TemporaryFile()
    except OSError:
        yield
        return
    with sink:
        try:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(sink.fileno(), fd)
                except OSError:
                    pass
            yield
        finally:
            for fd, copy in saved:
                try:
                    os.dup2(copy, fd)
                finally:
                    os.close(copy)


@contextlib.contextmanager
def library_output() -> Iterator[None]:
    """Capture and drop what libraries print during the block (unless :data:`verbose`)."""
    global _depth
    if verbose:
        yield
        return
    with _lock:
        _depth += 1
        outer = _depth == 1
    try:
        if not outer:   # already inside a block: it captures
            yield
            return
        previous = logging.root.manager.disable
        buffer = io.StringIO()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with warnings.catch_warnings(), contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), \
                _fds_to_file():
            warnings.simplefilter("ignore")
            logging.disable(logging.CRITICAL)
            try:
                yield
            finally:
                logging.disable(previous)
                for stream in (sys.__stdout__, sys.__stderr__):
                    with contextlib.suppress(Exception):
                        stream.flush()
    finally:
        with _lock:
            _depth -= 1
