"""Start the desktop application: the window first, TensorFlow behind it."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

_T0 = time.perf_counter()

# Libraries Qt's xcb platform plugin needs that desktop installs often lack:
# soname -> (Debian/Ubuntu package, Fedora package)
XCB_PACKAGES = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
}
_HEADLESS_PLATFORMS = {"offscreen", "minimal", "minimalegl", "vnc", "linuxfb", "eglfs", "vkkhrdisplay"}


def _platform_plugins() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms"
    return folder if folder.is_dir() else None


def missing_libraries(plugin: Path, ldd_output: str | None = None) -> list[str]:
    """Shared libraries ``plugin`` needs that the system lacks (from ``ldd``), by soname."""
    if ldd_output is None:
        import shutil
        import subprocess

        ldd = shutil.which("ldd")
        if ldd is None:
            return []
        try:
            ldd_output = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return []
    return [line.split("=>")[0].strip() for line in ldd_output.splitlines() if "not found" in line]


def _x_server_reachable(display: str) -> bool | None:
    """True/False if the X server ``display`` names answers; None if it cannot tell."""
    import re
    import socket

    m = re.match(r"^(?P<host>[^:]*):(?P<num>\d+)(\.\d+)?$", display)
    if not m:
        return None
    host, num = m.group("host"), int(m.group("num"))
    if host.startswith("/"):  # a launchd socket path (macOS XQuartz)
        return Path(host).exists() or None
    if host in ("", "unix"):
        for address in (f"\0/tmp/.X11-unix/X{num}", f"/tmp/.X11-unix/X{num}"):
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(2)
                    s.connect(address)
                    return True
            except OSError:
                continue
        if host == "unix":
            return False
        host = "localhost"
    try:
        socket.create_connection((host, 6000 + num), timeout=2).close()
        return True
    except OSError:
        return False


def display_problem(environ=None, ldd_output: str | None = None) -> str | None:
    """Why the window cannot open here (one line), or None if it should.

    Checked before a QApplication exists: without a display Qt aborts the
    process (SIGABRT) instead of raising an error.
    """
    env = os.environ if environ is None else environ
    if sys.platform == "darwin" or sys.platform.startswith("win"):
        return None
    requested = env.get("QT_QPA_PLATFORM", "").strip()
    names = [p.split(":")[0].strip() for p in requested.split(";") if p.strip()]
    if not names:
        if env.get("WAYLAND_DISPLAY"):
            return None
        names = ["xcb"]
    plugins = _platform_plugins()
    available = sorted(p.name[len("libq"):-len(".so")] for p in plugins.glob("libq*.so")) if plugins else []
    problems = []
    for name in names:
        if available and name not in available:
            problems.append(f"QT_QPA_PLATFORM names '{name}', which is not a Qt platform plugin here "
                            f"(available: {', '.join(available)})")
            continue
        if name in _HEADLESS_PLATFORMS:
            return None
        if name == "wayland":
            if env.get("WAYLAND_DISPLAY"):
                return None
            problems.append("QT_QPA_PLATFORM is 'wayland' but WAYLAND_DISPLAY is not set")
            continue
        if name != "xcb":
            return None
        display = env.get("DISPLAY", "")
        if not display:
            problems.append("no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so the window cannot open; "
                            "run it in a desktop session or under xvfb-run, or use the headless commands "
                            "(layer-studio --help)")
            continue
        missing = missing_libraries(plugins / "libqxcb.so", ldd_output) if plugins else []
        if missing:
            debian = " ".join(XCB_PACKAGES.get(m, (m, m))[0] for m in missing)
            fedora = " ".join(sorted({XCB_PACKAGES.get(m, (m, m))[1] for m in missing}))
            problems.append(f"Qt's xcb platform plugin cannot load: {', '.join(missing)} "
                            f"{'is' if len(missing) == 1 else 'are'} missing; install "
                            f"{'it' if len(missing) == 1 else 'them'} (Debian/Ubuntu: sudo apt install {debian}; "
                            f"Fedora: sudo dnf install {fedora}); "
                            "see the README's set-up section")
            continue
        if _x_server_reachable(display) is False:
            problems.append(f"cannot connect to the X display '{display}' (DISPLAY): no X server answers there")
            continue
        return None
    return problems[0] if problems else None


def run(path: str | None = None, argv: list[str] | None = None) -> int:
    problem = display_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from studio.engine.project import ProjectError, load_project
    from studio.ui.main_window import MainWindow
    from studio.ui.tf_loader import TensorFlowLoader

    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Layer Studio")
    app.setOrganizationName("LayerStudio")
    # Copied layers live in a QMimeData the clipboard owns; release it while
    # Python still runs, or Qt deletes it during interpreter shutdown.
    app.aboutToQuit.connect(lambda: app.clipboard().clear())
    loader = TensorFlowLoader()
    project = None
    error = None
    if path:
        if Path(path).suffix == ".keras":
            pass  # imported once TensorFlow is ready, below
        else:
            try:
                project = load_project(path)
            except ProjectError as exc:
                error = str(exc)
    window = MainWindow(project, loader)  # starts the TensorFlow import once shown
    window.show()

    def report_shown():
        shown = time.perf_counter() - _T0
        logging.getLogger(__name__).info("window shown after %.2f s", shown)
        if os.environ.get("LAYER_STUDIO_REPORT_STARTUP"):
            print(f"window-shown {shown:.3f}", flush=True)

    QTimer.singleShot(0, report_shown)
    if error:
        QTimer.singleShot(0, lambda: QMessageBox.warning(window, "Cannot open project", error))
    elif path and Path(path).suffix == ".keras":
        window.open_files([path])
    if not path:
        QTimer.singleShot(0, window.offer_recovery)
    if os.environ.get("LAYER_STUDIO_QUIT_AFTER_MS"):
        QTimer.singleShot(int(os.environ["LAYER_STUDIO_QUIT_AFTER_MS"]), app.quit)
    return app.exec()
