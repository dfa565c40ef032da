"""The one check every writing command makes on its output path (studio.engine.outputs)."""

import pytest

from studio.engine.outputs import OutputRefused, check_output, check_suffix, project_dependencies


def _setup(tmp_path):
    work = tmp_path / "mywork"
    work.mkdir()
    project = work / "p.studio"
    project.write_text("{}")
    (work / "notes.txt").write_text("notes")
    weights = work / "p.studio.weights-0123456789abcdef.h5"
    weights.write_bytes(b"w")
    data = tmp_path / "data.npz"
    data.write_bytes(b"d")
    return work, project, weights, data


def test_never_the_input_its_folder_or_what_it_depends_on_even_forced(tmp_path):
    work, project, weights, data = _setup(tmp_path)
    deps = project_dependencies(project, {"kind": "file", "path": "../data.npz"})
    assert weights in deps and data.resolve() == (work / "../data.npz").resolve()
    for dest, phrase in [(project, "is the input file itself"), (work, "holds the input"),
                         (tmp_path, "holds the input"), (weights, "a file the project depends on"),
                         (data, "a file the project depends on"), (work / ".." / "mywork" / "p.studio", "itself")]:
        with pytest.raises(OutputRefused, match=phrase):
            check_output(dest, [project], deps, force=True, folder=True, same_kind=lambda p: True)
    assert sorted(p.name for p in work.iterdir()) == sorted(["p.studio", "notes.txt", weights.name])


def test_a_link_to_the_input_is_the_input(tmp_path):
    work, project, _, _ = _setup(tmp_path)
    (tmp_path / "hard.studio").hardlink_to(project)
    (tmp_path / "soft.studio").symlink_to(project)
    for name in ("hard.studio", "soft.studio"):
        with pytest.raises(OutputRefused, match="itself"):
            check_output(tmp_path / name, [project], force=True)


def test_a_folder_of_other_things_is_never_replaced(tmp_path):
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.tex").write_text("years")
    with pytest.raises(OutputRefused, match="not a python export and holds other files.*even with --force"):
        check_output(other, [], force=True, folder=True, kind="a python export")
    assert check_output(other, [], folder=True, same_kind=lambda p: True) == other   # an earlier export
    (tmp_path / "empty").mkdir()
    assert check_output(tmp_path / "empty", [], folder=True) == tmp_path / "empty"


def test_other_files_only_with_force_and_empty_names_refused(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("x")
    with pytest.raises(OutputRefused, match="exists and is not"):
        check_output(f, [])
    assert check_output(f, [], force=True) == f
    with pytest.raises(OutputRefused, match="is empty"):
        check_output("", [])


@pytest.mark.parametrize("fmt, name, ok", [("keras", "m.keras", True), ("keras", "m.txt", False),
                                           ("tflite", "m.h5", False), ("onnx", "M.ONNX", True),
                                           ("svg", "d.svg", True), ("png", "d.svg", False),
                                           ("savedmodel", "folder", True), ("python", "code", True)])
def test_suffix_per_format(fmt, name, ok):
    if ok:
        check_suffix(fmt, name)
    else:
        with pytest.raises(OutputRefused, match=r"does not end in \."):
            check_suffix(fmt, name)


def test_export_refusals_are_export_errors_with_exit_code_2(tmp_path):
    """The window catches ExportError; the command line says exit code 2 (bad input)."""
    from types import SimpleNamespace

    from studio.engine.errors import exit_code_for
    from studio.engine.export import ExportError, check_destination
    work, project, weights, _ = _setup(tmp_path)
    fake = SimpleNamespace(path=project, dataset=None)
    for dest in (work, weights, tmp_path / "m.txt"):
        with pytest.raises(ExportError) as info:
            check_destination(fake, "keras" if dest != work else "python", dest, overwrite=True)
        assert exit_code_for(info.value) == 2


def test_an_output_in_a_folder_that_does_not_exist_is_refused_never_made(tmp_path):
    from studio.engine.errors import exit_code_for
    from studio.engine.outputs import check_parent
    missing = tmp_path / "nonexistent" / "a"
    for folder in (False, True):
        with pytest.raises(OutputRefused, match=f"the folder '{missing}' does not exist") as info:
            check_output(missing / "b.keras", folder=folder)
        assert exit_code_for(info.value) == 2
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(OutputRefused, match=f"'{afile}' is not a folder"):
        check_parent(afile / "run", option="--out")
    assert not (tmp_path / "nonexistent").exists()
    with pytest.raises(OutputRefused, match=f"'{afile}' is not a folder"):
        check_parent(afile / "a" / "run", option="--out", make=True)
    check_parent(tmp_path / "runs" / "a" / "run", make=True)   # train --out makes the folders above its run
    check_parent(tmp_path / "new-run")   # a new output in a folder that exists
    check_parent("relative-name.py")     # in the current folder
    assert check_output(tmp_path / "x.py") == tmp_path / "x.py"
