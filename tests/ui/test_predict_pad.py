"""The Try it pad in the real window: real mouse strokes move the bars; dropped pictures are classified."""

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from studio.engine import templates

from .helpers import sample_slice, train_in_window as train


@pytest.fixture(scope="module")
def small():
    return sample_slice(1024, 128)




def open_pad(qtbot, window):
    pad = window.predict_pad
    window.bottom_tabs.setCurrentWidget(pad)
    qtbot.waitUntil(lambda: pad.keeper.built is not None and pad.keeper.current() and not pad.keeper.busy(),
                    timeout=60_000)
    return pad


def draw_seven(pad_widget, steps=12):
    """A '7' drawn with real mouse events: a bar across the top, then a slanted stroke down."""
    side = pad_widget.image.width()
    points = [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]
    path = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        for k in range(steps):
            t = k / steps
            path.append(QPoint(int(side * (x0 + t * (x1 - x0))), int(side * (y0 + t * (y1 - y0)))))
    path.append(QPoint(int(side * points[-1][0]), int(side * points[-1][1])))
    QTest.mousePress(pad_widget, Qt.LeftButton, Qt.NoModifier, path[0])
    for p in path[1:]:
        QTest.mouseMove(pad_widget, p)
    QTest.mouseRelease(pad_widget, Qt.LeftButton, Qt.NoModifier, path[-1])


def test_a_stroke_updates_the_bars(qtbot, window, small, capsys):
    train(qtbot, window, small)
    pad = open_pad(qtbot, window)
    assert pad.usable() == (True, "")
    assert pad.probabilities is None and pad.pad.is_empty()
    ticks = pad.plot.getAxis("bottom")._tickLevels[0]
    assert [name for _, name in ticks] == [str(d) for d in range(10)]

    QTest.mousePress(pad.pad, Qt.LeftButton, Qt.NoModifier, QPoint(140, 60))
    QTest.mouseMove(pad.pad, QPoint(142, 120))
    qtbot.waitUntil(lambda: pad.probabilities is not None, timeout=2000)
    first = pad.probabilities.copy()
    latency_ms = pad.latencies[-1] * 1000
    QTest.mouseMove(pad.pad, QPoint(144, 220))
    QTest.mouseRelease(pad.pad, Qt.LeftButton, Qt.NoModifier, QPoint(144, 220))
    qtbot.waitUntil(lambda: len(pad.latencies) >= 2, timeout=2000)

    heights = pad.bars.opts["height"]
    assert np.allclose(heights, pad.probabilities) and abs(float(np.sum(heights)) - 1) < 1e-4
    assert not np.allclose(first, pad.probabilities)          # the longer stroke changed the answer's odds
    assert pad.answer.text() == str(int(np.argmax(pad.probabilities)))
    sample = pad.last_sample
    assert sample.shape == (28, 28) and sample.dtype == np.uint8
    cy, cx = np.argwhere(sample > 0).mean(axis=0)
    assert 10 < cy < 18 and 10 < cx < 18
    assert pad.seen.pixmap() is not None and not pad.seen.pixmap().isNull()

    pad.clear()
    draw_seven(pad.pad)
    qtbot.waitUntil(lambda: pad.probabilities is not None, timeout=2000)
    stats = np.array(pad.latencies) * 1000
    with capsys.disabled():
        print(f"\npad latency, stroke to bars redrawn: first {latency_ms:.1f} ms; over {len(stats)} updates "
              f"median {np.median(stats):.1f} ms, max {stats.max():.1f} ms; one predict "
              f"{pad._predict_seconds * 1000:.1f} ms; the drawn 7 reads as {pad.answer.text()}")
    pad.clear()
    assert pad.probabilities is None and pad.answer.text() == "–" and not pad.inside_button.isEnabled()


def drop_file(widget, path):
    """A file dragged over the widget and dropped, as a file manager does it."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(widget, QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))


def test_a_dropped_picture_is_classified(qtbot, window, small, tmp_path):
    train(qtbot, window, small)
    pad = open_pad(qtbot, window)
    digit = small.x_test[0]
    big = np.kron(255 - digit, np.ones((6, 6), np.uint8))      # dark ink on white, 168x168
    path = tmp_path / "digit.png"
    image = QImage(big.data, big.shape[1], big.shape[0], big.shape[1], QImage.Format_Grayscale8).copy()
    assert image.save(str(path))
    drop_file(pad.pad, path)
    assert pad.probabilities is not None
    model_says = window.predict_pad.keeper.built.inspector.predict(digit[None, ..., None].astype("float32"))[0]
    assert int(np.argmax(pad.probabilities)) == int(np.argmax(model_says))
    assert not pad.pad.is_empty()                                 # the picture is shown on the pad
    # a file that is not an image says so
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    drop_file(pad.pad, bad)
    assert "not an image" in pad.status.text()


def test_plain_messages_when_the_pad_cannot_classify(qtbot, window):
    pad = open_pad(qtbot, window)
    ok, message = pad.usable()
    assert not ok and "not trained" in message and message in pad.status.text()
    window.set_project(templates.build("ticket_router"))
    window.flush_updates()
    qtbot.waitUntil(lambda: pad.keeper.current() and not pad.keeper.busy(), timeout=60_000)
    ok, message = pad.usable()
    assert not ok and "not an image classifier" in message


def test_look_inside_sends_the_drawing_to_the_inside_tab(qtbot, window, small):
    train(qtbot, window, small)
    pad = open_pad(qtbot, window)
    draw_seven(pad.pad)
    qtbot.waitUntil(lambda: pad.inside_button.isEnabled(), timeout=2000)
    qtbot.mouseClick(pad.inside_button, Qt.LeftButton)
    inside = window.inspect_panel
    assert window.bottom_tabs.currentWidget() is inside
    assert np.array_equal(inside.example_raw, pad.last_sample)
    assert "drawing" in inside.example_label.text()
