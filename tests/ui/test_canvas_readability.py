"""The canvas is readable and easy to hit at first sight (issue 8, "The first hour").

Driven through the real window and its viewport: what is measured is what a
person sees (font pixels times zoom, painted pixels, mouse presses in screen
pixels), so each test fails if the mechanism it covers is taken out.
"""

import math
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QContextMenuEvent, QFontInfo, QImage  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QMenu  # noqa: E402

from studio.engine.graph import ModelGraph  # noqa: E402
from studio.engine.layout import layered_layout  # noqa: E402
from studio.engine.project import Project  # noqa: E402
from studio.ui.canvas import items as canvas_items  # noqa: E402
from studio.ui.canvas import menus  # noqa: E402

from .helpers import node_by_name, view_point  # noqa: E402

READABLE_PX = 11


def _visible_scene_rect(view) -> QRectF:
    return view.mapToScene(view.viewport().rect()).boundingRect()


def _title_px_on_screen(view) -> float:
    """Height of the node titles as painted now: the painted font's pixel size times the zoom."""
    zoom = view.zoom()
    detail = canvas_items.detail_for(zoom)
    if detail == "block":
        return 0.0
    font = canvas_items._TITLE_FONT if detail == "full" else canvas_items._compact_font(
        canvas_items.compact_title_px(zoom))
    return QFontInfo(font).pixelSize() * zoom


def _settle_fit(qtbot, window):
    """Let the fit that opening a project schedules run, then stop any zoom gesture."""
    qtbot.wait(50)
    window.view.settle()


# -- readable at the zoom a project opens with ------------------------------------------


def test_starter_project_opens_with_readable_titles_and_shapes(qtbot, window):
    _settle_fit(qtbot, window)
    view = window.view
    assert _title_px_on_screen(view) >= READABLE_PX
    # full detail: the layer's name and its output shape are drawn too, not just the title
    assert canvas_items.detail_for(view.zoom()) == "full"
    assert QFontInfo(canvas_items._BODY_FONT).pixelSize() * view.zoom() >= 9
    # the model's input is on screen, so the person sees where the model starts
    digits, item = node_by_name(window, "digits")
    assert _visible_scene_rect(view).contains(item.body_rect())


def _chain_project(n: int) -> Project:
    g = ModelGraph("long_chain")
    prev = g.add_node("InputLayer", {"shape": [32]}, name="features")
    for k in range(n - 1):
        node = g.add_node("Dense", {"units": 16, "activation": "relu"}, name=f"dense_{k}")
        g.connect(prev.id, node.id, 0)
        prev = node
    layered_layout(g)
    return Project(graph=g)


def test_large_graph_opens_readable_from_its_inputs(qtbot, window, tmp_path):
    path = _chain_project(60).save(tmp_path / "long_chain.studio")
    window.files.open_files([str(path)])
    _settle_fit(qtbot, window)
    view = window.view
    assert len(window.scene.node_items) == 60
    assert _title_px_on_screen(view) >= READABLE_PX
    # too tall to fit at a readable size: shown from the input, at the top of the view
    _, first = node_by_name(window, "features")
    _, last = node_by_name(window, "dense_58")
    visible = _visible_scene_rect(view)
    assert visible.contains(first.body_rect())
    assert not visible.intersects(last.body_rect())
    assert view.mapFromScene(first.body_rect().topLeft()).y() < view.viewport().height() / 3
    # and the explicit Fit to view keeps the same readable zoom
    view.fit_to_view()
    assert _title_px_on_screen(view) >= READABLE_PX


def test_small_graph_is_still_fitted_whole(qtbot, window):
    """The clamp only bites when needed: a graph that fits readably is shown whole."""
    g = window.document.graph
    for name in ("pool2", "conv3", "flatten", "classes", "pool1", "conv2"):
        g.remove_node(g.node_by_name(name).id)
    window.view.fit_to_view()
    visible = _visible_scene_rect(window.view)
    for item in window.scene.node_items.values():
        assert visible.contains(item.body_rect())
    assert window.view.zoom() <= window.view.MAX_FIT_ZOOM + 1e-9


# -- level of detail ----------------------------------------------------------------------


def _dark_pixels_in_titles(window, zoom: float) -> int:
    """Painted text pixels inside the node boxes (inset past borders, colour bar and ports)."""
    view = window.view
    window.scene.clearSelection()
    view.set_zoom(zoom, gesture=False)
    _, conv2 = node_by_name(window, "conv2")
    view.centerOn(conv2)
    view.settle()
    QApplication.processEvents()
    image = view.viewport().grab().toImage().convertToFormat(QImage.Format_RGB32)
    dark = 0
    for item in window.scene.node_items.values():
        box = item.body_rect()
        tl, br = view.mapFromScene(box.topLeft()), view.mapFromScene(box.bottomRight())
        x0, x1 = tl.x() + math.ceil(12 * zoom) + 1, br.x() - 3
        y0, y1 = tl.y() + 4, br.y() - 4
        for y in range(max(y0, 0), min(y1, image.height())):
            for x in range(max(x0, 0), min(x1, image.width())):
                c = image.pixelColor(x, y)
                if max(c.red(), c.green(), c.blue()) < 100:
                    dark += 1
    return dark


def test_titles_are_drawn_down_to_30_percent(qtbot, window):
    assert canvas_items.detail_for(0.3) != "block"
    assert canvas_items.title_screen_px(0.3) >= 10
    assert _dark_pixels_in_titles(window, 0.3) > 100
    assert _dark_pixels_in_titles(window, 0.45) > 100
    # below that, plain boxes: no text at all
    assert _dark_pixels_in_titles(window, 0.2) == 0


# -- hit targets ------------------------------------------------------------------------


@pytest.mark.parametrize("zoom", [0.4, 2.0])
def test_press_just_outside_a_port_dot_starts_a_wire(qtbot, window, zoom):
    g = window.document.graph
    src = g.add_node("Dense", {"units": 8}, name="wire_from", position=(1200.0, 0.0))
    dst = g.add_node("Dropout", {"rate": 0.2}, name="wire_to", position=(1420.0, 130.0))
    view = window.view
    s_item, d_item = window.scene.node_items[src.id], window.scene.node_items[dst.id]
    view.set_zoom(zoom, gesture=False)
    view.settle()
    a, b = s_item.output_port_pos(0), d_item.input_port_pos(0)
    view.centerOn((a + b) / 2)
    port = view_point(window, a)
    outside = math.ceil(canvas_items.PORT_R * zoom + 5)  # 5 px beyond the drawn dot's edge
    press = port + QPoint(0, outside)
    assert view.viewport().rect().contains(press)
    assert 2 * outside <= 2 * canvas_items.port_hit_radius(zoom) * zoom  # inside the target
    vp = view.viewport()
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, press)
    end = view_point(window, b)
    QTest.mouseMove(vp, (press + end) / 2)
    QTest.mouseMove(vp, end)
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, end)
    assert g.inputs_of(dst.id) == {0: (src.id, 0)}
    assert g.nodes[src.id].position == (1200.0, 0.0)  # a wire, not a drag of the node


@pytest.mark.parametrize("zoom", [0.25, 0.3, 0.4, 0.6, 1.0, 2.0, 4.0])
def test_port_and_fix_targets_are_at_least_12_px(window, zoom):
    _, item = node_by_name(window, "conv1")
    assert 2 * canvas_items.port_hit_radius(zoom) * zoom >= canvas_items.HIT_MIN_PX - 1e-6
    # every target lies inside the item's bounding rect (Qt finds items through it)
    r = canvas_items.port_hit_radius(zoom)
    bounds = item.boundingRect()
    for p in [item.input_port_pos(0, True), item.output_port_pos(0, True)]:
        assert bounds.contains(QRectF(p.x() - r, p.y() - r, 2 * r, 2 * r))
    fix = item.fix_button_rect(zoom)
    if canvas_items.detail_for(zoom) == "block":
        assert fix.isEmpty()  # the badge is not drawn that far out: no invisible button
    else:
        assert min(fix.width(), fix.height()) * zoom >= canvas_items.HIT_MIN_PX - 1e-6
        assert fix.contains(item.fix_badge_rect()) and bounds.contains(fix)


def test_fix_badge_answers_a_click_just_outside_it(qtbot, window):
    g = window.document.graph
    window.scene.select_nodes([g.node_by_name("flatten").id])
    window.edit.delete_selection()
    classes, item = node_by_name(window, "classes")
    g.connect(g.node_by_name("conv3").id, classes.id, 0)
    window.flush_updates()
    assert item.has_fix
    view = window.view
    view.set_zoom(0.4, gesture=False)
    view.settle()
    view.centerOn(item)
    badge = item.mapToScene(item.fix_badge_rect()).boundingRect()
    left = view_point(window, QPointF(badge.left(), badge.center().y()))
    click = left - QPoint(2, 0)  # 2 px left of the drawn badge, over the title
    with qtbot.waitSignal(window.scene.fix_requested, timeout=1000) as blocker:
        QTest.mouseClick(view.viewport(), Qt.LeftButton, Qt.NoModifier, click)
    assert blocker.args == [classes.id]


# -- context menus ------------------------------------------------------------------------


def _right_click(view, pos: QPoint) -> list:
    seen = []
    view.context_requested.connect(lambda *args: seen.append(args))
    global_pos = view.viewport().mapToGlobal(pos)
    event = QContextMenuEvent(QContextMenuEvent.Mouse, pos, global_pos)
    QApplication.sendEvent(view.viewport(), event)
    return seen


def test_right_clicks_are_reported_for_node_wire_and_canvas(qtbot, window):
    view = window.view
    g = window.document.graph
    conv1, c1 = node_by_name(window, "conv1")
    view.centerOn(c1)
    window.scene.clearSelection()

    at = view_point(window, c1.mapToScene(QPointF(60, canvas_items.NODE_H / 2)))
    [(kind, target, scene_pos, global_pos)] = _right_click(view, at)
    assert (kind, target) == ("node", conv1.id)
    assert (view.mapFromScene(scene_pos) - at).manhattanLength() <= 1
    assert global_pos == view.viewport().mapToGlobal(at)
    assert window.scene.selected_node_ids() == [conv1.id]  # what the menu will act on

    edge = next(e for e in g.edges if e.dst == conv1.id)
    mid = window.scene.edge_items[edge]._path.pointAtPercent(0.5)
    [(kind, target, _, _)] = _right_click(view, view_point(window, mid))
    assert (kind, target) == ("edge", edge)
    assert window.scene.selected_edges() == [edge]

    [(kind, target, scene_pos, _)] = _right_click(view, QPoint(5, 5))
    assert (kind, target) == ("canvas", None)
    assert not any(isinstance(i, (canvas_items.NodeItem, canvas_items.EdgeItem))
                   for i in window.scene.items(scene_pos))


def test_menus_call_their_callbacks(qtbot, window):
    calls = []
    node = menus.node_menu(
        window, on_delete=lambda: calls.append("delete"), on_duplicate=lambda: calls.append("duplicate"),
        on_rename=lambda: calls.append("rename"), on_mark_output=lambda on: calls.append(("output", on)),
        is_output=False, fix_label="insert Flatten", on_fix=lambda: calls.append("fix"),
        on_show_code=lambda: calls.append("code"), shortcuts={"delete": "Del"})
    assert isinstance(node, QMenu)
    assert menus.action(node, "fix").text() == "Fix: insert Flatten"
    mark = menus.action(node, "mark_output")
    assert mark.isCheckable() and not mark.isChecked()
    for name in ("delete", "duplicate", "rename", "mark_output", "fix", "show_code"):
        menus.action(node, name).trigger()
    assert calls == ["delete", "duplicate", "rename", ("output", True), "fix", "code"]

    plain = menus.node_menu(window, on_delete=print, on_duplicate=print, on_rename=print,
                            on_mark_output=print, is_output=True, count=3)
    assert menus.action(plain, "fix") is None
    assert menus.action(plain, "mark_output").isChecked()
    assert not menus.action(plain, "rename").isEnabled()
    assert menus.action(plain, "delete").text() == "Delete 3 layers"

    calls.clear()
    wire = menus.edge_menu(window, on_delete=lambda: calls.append("cut"),
                           on_insert_layer=lambda: calls.append("insert"))
    for name in menus.EDGE_ACTIONS:
        menus.action(wire, name).trigger()
    canvas = menus.canvas_menu(window, on_add_layer=lambda: calls.append("add"),
                               on_paste=lambda: calls.append("paste"),
                               on_auto_layout=lambda: calls.append("layout"),
                               on_fit=lambda: calls.append("fit"), can_paste=False)
    assert not menus.action(canvas, "paste").isEnabled()
    for name in menus.CANVAS_ACTIONS:
        menus.action(canvas, name).trigger()
    assert calls == ["cut", "insert", "add", "layout", "fit"]  # a disabled Paste does nothing
