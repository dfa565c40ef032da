"""PNG diagrams: the engine's SVG rendered by Qt (offscreen, no window needed)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def export_png(project, dest: str | Path, scale: float = 2.0, overwrite: bool = False):
    from studio.engine.export import check_destination
    check_destination(project, "png", Path(dest), overwrite)   # the same rules as every other output
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QByteArray, QRectF
    from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    from studio.engine.diagram import graph_svg
    from studio.engine.export import ExportError, ExportResult, _Staging

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - needed for painting
    t0 = time.perf_counter()
    renderer = QSvgRenderer(QByteArray(graph_svg(project.graph).encode()))
    size = renderer.defaultSize()
    image = QImage(int(size.width() * scale), int(size.height() * scale), QImage.Format_ARGB32)
    image.fill(QColor("#f5f7fa"))
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, image.width(), image.height()))
    painter.end()
    dest = Path(dest)
    with _Staging(dest, directory=False) as staged:
        if not image.save(str(staged), "PNG"):
            raise ExportError(f"could not write the PNG to '{dest}'")
        check = QImage(str(staged))
        if check.isNull() or check.size() != image.size():
            raise ExportError("the PNG did not read back correctly; nothing was written")
    return ExportResult("png", dest, time.perf_counter() - t0, dest.stat().st_size,
                        details={"size": f"{image.width()}×{image.height()}"})
