"""The one place that decides whether a command may write to an output path.

Every command that writes (export in every format, codegen, import, train's
run folder) asks :func:`check_output` first. Never allowed, even with
``--force``:

* the input itself (or a hard or symbolic link to it);
* any file the input depends on: a project's weights files and its dataset
  files (:func:`project_dependencies`);
* a folder that contains the input or one of those files (replacing the
  folder would delete them);
* an existing folder that is not an earlier output of the same kind
  (``--force`` replaces files, never a folder of other things).

And no command creates folders on its way: the folder an output is written in
must exist (:func:`check_parent`); a missing one is refused, for every command
alike, except train's ``--out``, which makes its run folder and any folders
above it (as for its default, ``PROJECT.studio.runs/<time>-<name>``). A file
where a folder should be is refused everywhere.

An existing file that is not the same kind of output is replaced only with
``--force``. Each refusal is one sentence that names the cause; the engine
raises :class:`OutputRefused` (exit code 2).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterable

from studio.engine.errors import BAD_INPUT, StudioError
from studio.engine.errors import show_path as _show

# The file name an output of each export format must end with (folders: None).
EXPORT_SUFFIXES = {"keras": (".keras",), "tflite": (".tflite",), "onnx": (".onnx",), "svg": (".svg",),
                   "png": (".png",), "savedmodel": None, "python": None}


class OutputRefused(StudioError):
    """An output path that must not be written; the message says why."""

    exit_code = BAD_INPUT


def _real(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return Path(os.path.abspath(path))


def _same(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
    except (OSError, ValueError):
        pass
    return _real(a) == _real(b)


def _inside(child: Path, folder: Path) -> bool:
    """True if ``child`` lies in ``folder`` (or below it), links resolved."""
    c, f = _real(child), _real(folder)
    return c != f and f in c.parents


def project_dependencies(project_path: Path | None, dataset: dict | None = None) -> list[Path]:
    """The files a project needs besides itself: its weights files beside it and its dataset file."""
    deps: list[Path] = []
    if project_path is None:
        return deps
    project_path = Path(project_path)
    directory = project_path.parent if str(project_path.parent) else Path(".")
    pattern = re.compile(re.escape(project_path.name + ".weights") + r"(-[0-9a-f]{16})?\.h5")
    try:
        deps += [directory / e.name for e in os.scandir(directory) if pattern.fullmatch(e.name)]
    except OSError:
        pass
    if isinstance(dataset, dict) and dataset.get("kind") == "file" and isinstance(dataset.get("path"), str) \
            and dataset["path"].strip():
        p = Path(dataset["path"])
        deps.append(p if p.is_absolute() else directory / p)
    return deps


def check_output(dest: str | Path, inputs: Iterable[Path] = (), depends: Iterable[Path] = (), *,
                 same_kind: Callable[[Path], bool] = lambda p: False, kind: str = "an earlier output",
                 force: bool = False, option: str = "-o", folder: bool = False,
                 input_name: str = "input file", replaces: Iterable[Path] = (), parent: bool = True) -> Path:
    """Refuse ``dest`` if writing it could lose the input, a file it depends on, or other work.

    ``folder`` says the output is a folder (a SavedModel, a Python export, a run
    folder); ``same_kind`` tells an earlier output of this kind, which may be replaced;
    ``replaces`` names the other files writing ``dest`` replaces or removes (a saved
    project's old weights files), none of which may be an input. ``parent``: check that the folder
    ``dest`` is written in exists (:func:`check_parent`; a caller with checks of its own to say
    first calls it itself).
    """
    text = str(dest)
    if not text.strip():
        raise OutputRefused(f"{option} is empty; give a {'folder' if folder else 'file'} name")
    dest = Path(dest)
    shown = _show(text)
    if dest.is_dir() and not folder:
        raise OutputRefused(f"{option} '{shown}' is a folder; give a file name")
    check_not_needed(dest, inputs, depends, option=option, input_name=input_name)
    replaced = [Path(r) for r in replaces]
    for src in inputs:
        for r in replaced:
            if _same(Path(src), r):
                raise OutputRefused(f"{option} '{shown}' would replace the {input_name} '{_show(src)}', which is "
                                    f"named as its weights file — choose another name")
    if dest.is_dir():
        if not same_kind(dest) and _has_entries(dest):
            raise OutputRefused(f"{option} '{shown}' is an existing folder that is not {kind} and holds other "
                                "files, which writing there would delete (even with --force) — choose a new folder")
    elif dest.exists() or dest.is_symlink():
        if not force and not same_kind(dest):
            raise OutputRefused(f"{option} '{shown}' exists and is not {kind}; choose another name or pass "
                                "--force to replace it")
    if parent:
        check_parent(dest, option=option)
    return dest


def check_parent(dest: str | Path, option: str = "-o", make: bool = False) -> None:
    """Refuse an output whose folder does not exist (or is a file): no command creates folders on
    its way, so a mistyped path is said, not silently made. ``make``: the caller creates the
    missing folders (train's run folder, as its default PROJECT.studio.runs/... is); only a file
    where a folder should be is refused then."""
    dest = Path(dest)
    folder = dest.parent
    if folder == dest or folder.is_dir():
        return
    if make:   # the nearest part of the path that exists must be a folder
        while not (folder.exists() or folder.is_symlink()) and folder.parent != folder:
            folder = folder.parent
        if folder.is_dir():
            return
    if folder.exists() or folder.is_symlink():
        raise OutputRefused(f"{option} '{_show(dest)}': '{_show(folder)}' is not a folder")
    raise OutputRefused(f"{option} '{_show(dest)}': the folder '{_show(folder)}' does not exist; create it first "
                        "or choose another")


def check_not_needed(dest: Path, inputs: Iterable[Path] = (), depends: Iterable[Path] = (), *,
                     option: str = "-o", input_name: str = "input file") -> None:
    """Refuse ``dest`` if it is an input, a file an input depends on, or a folder holding either
    (whatever ``--force`` says: writing there would lose them)."""
    dest = Path(dest)
    shown = _show(dest)
    exists = dest.exists() or dest.is_symlink()
    for src in inputs:
        src = Path(src)
        if exists and _same(dest, src):
            raise OutputRefused(f"{option} '{shown}' is the {input_name} itself; writing there would replace it "
                                "— choose another name")
        if _inside(src, dest):
            raise OutputRefused(f"{option} '{shown}' is a folder that holds the {input_name} '{_show(src)}'; "
                                "writing there would replace it — choose another name")
    for dep in depends:
        dep = Path(dep)
        if (exists and _same(dest, dep)) or _real(dest) == _real(dep):
            raise OutputRefused(f"{option} '{shown}' is '{_show(dep.name)}', a file the project depends on "
                                "(its weights or data); writing there would lose it — choose another name")
        if _inside(dep, dest):
            raise OutputRefused(f"{option} '{shown}' is a folder that holds '{_show(dep)}', a file the project "
                                "depends on (its weights or data) — choose another name")


def _has_entries(folder: Path) -> bool:
    try:
        return any(os.scandir(folder))
    except OSError:
        return True


def check_suffix(fmt: str, dest: str | Path, option: str = "-o") -> None:
    """Refuse a file name that does not end as the format's files do (before any work)."""
    wanted = EXPORT_SUFFIXES.get(fmt)
    if not wanted:
        return
    name = Path(dest).name
    if not name.lower().endswith(wanted):
        raise OutputRefused(f"{option} '{_show(dest)}' does not end in {wanted[0]}; a {fmt} export is written "
                            f"to a file ending in {wanted[0]}")
