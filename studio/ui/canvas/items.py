"""Graphics items for the canvas: nodes with ports, edges with shape labels."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QStyleOptionGraphicsItem

from studio.engine import catalog
from studio.engine.shapes import NodeState, format_shape
from studio.ui.guard import guarded

NODE_W = 200.0
NODE_H = 66.0
PORT_R = 6.0

# Text sizes are in pixels (scene units), not points: what a person sees on
# screen is then exactly size x zoom, on every platform and screen DPI.
TITLE_PX = 14
BODY_PX = 12
SMALL_PX = 10

# Level of detail, by the view's scale (1.0 = 100 %):
FULL_DETAIL_LOD = 0.6   # at or above: title, name, shapes and parameters
TITLE_LOD = 0.3         # at or above: the title alone, enlarged to stay legible; below: plain blocks
COMPACT_TITLE_SCREEN_PX = 11  # the enlarged title's size on screen between TITLE_LOD and FULL_DETAIL_LOD
_COMPACT_TITLE_MAX_PX = 37    # never taller than this in scene units (it must fit in the node)

# Hit targets, in screen pixels: a port or the fix badge is easy to hit at any
# zoom even though the dot drawn for it stays small.
HIT_MIN_PX = 12             # the smallest target, across, on screen
PORT_HIT_MARGIN_PX = 6      # slop around a port's dot on screen
PORT_HIT_MIN_RADIUS_PX = 9  # a port's target is never smaller than this radius on screen
FIX_HIT_MARGIN_PX = 3       # slop around the fix badge on screen
# ...but capped in scene units, so that a node zoomed far out is still mostly
# body to drag: targets stay at least HIT_MIN_PX across down to 25 % zoom.
PORT_HIT_MAX_RADIUS = 24.0
FIX_HIT_MAX_GROW = 12.0
EDGE_HIT_MAX_WIDTH = 24.0

ERROR_COLOR = QColor("#d32f2f")
WARNING_COLOR = QColor("#f9a825")
SELECT_COLOR = QColor("#1e88e5")


def _font(px: int, bold: bool = False, stretch: int = QFont.Unstretched) -> QFont:
    font = QFont()
    font.setPixelSize(px)
    font.setBold(bold)
    font.setStretch(stretch)
    return font


_TITLE_FONT = _font(TITLE_PX, bold=True)
_BODY_FONT = _font(BODY_PX)
_SMALL_FONT = _font(SMALL_PX)
_COMPACT_FONTS: dict[int, QFont] = {}


def detail_for(lod: float) -> str:
    """'full', 'title' or 'block': what a node draws at this scale."""
    if lod >= FULL_DETAIL_LOD - 1e-6:
        return "full"
    if lod >= TITLE_LOD - 1e-6:
        return "title"
    return "block"


def compact_title_px(lod: float) -> int:
    """Scene pixel size of the title in 'title' detail: about COMPACT_TITLE_SCREEN_PX on screen."""
    return max(TITLE_PX, min(_COMPACT_TITLE_MAX_PX, math.ceil(COMPACT_TITLE_SCREEN_PX / max(lod, 1e-3) - 1e-6)))


def title_screen_px(lod: float) -> float:
    """How tall (in screen pixels) a node's title is drawn at this scale; 0 when it is not drawn."""
    detail = detail_for(lod)
    if detail == "full":
        return TITLE_PX * lod
    if detail == "title":
        return compact_title_px(lod) * lod
    return 0.0


def _compact_font(px: int) -> QFont:
    font = _COMPACT_FONTS.get(px)
    if font is None:
        font = _COMPACT_FONTS[px] = _font(px, bold=True, stretch=QFont.SemiCondensed)
    return font


def view_scale(item: QGraphicsItem) -> float:
    """The scale of the (first) view showing the item's scene; 1.0 when none does."""
    scene = item.scene()
    views = scene.views() if scene is not None else ()
    return views[0].transform().m11() if views else 1.0


def port_hit_radius(scale: float) -> float:
    """Radius, in scene units, within which a press counts as on a port at this view scale."""
    scale = max(scale, 1e-3)
    radius = max(PORT_R + PORT_HIT_MARGIN_PX / scale, PORT_HIT_MIN_RADIUS_PX / scale)
    return min(radius, PORT_HIT_MAX_RADIUS)


def format_params(n: int | None) -> str:
    if n is None:
        return ""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f}M params"
    if n >= 10_000:
        return f"{n / 1000:.1f}k params"
    return f"{n:,} params"


_METRICS: dict[int, QFontMetricsF] = {}


def _metrics(font: QFont) -> QFontMetricsF:
    fm = _METRICS.get(id(font))
    if fm is None:
        fm = _METRICS[id(font)] = QFontMetricsF(font)
    return fm


def _elide(text: str, font: QFont, width: float) -> str:
    return _metrics(font).elidedText(text, Qt.ElideRight, width)


def _tag(painter: QPainter, rect: QRectF, text: str, color: QColor, filled: bool) -> None:
    """A small rounded tag on a node (frozen, part, shared): filled, or outlined on white."""
    painter.setPen(QPen(color, 1.0))
    painter.setBrush(color if filled else QColor("#ffffff"))
    painter.drawRoundedRect(rect, 6, 6)
    painter.setPen(QColor("#ffffff") if filled else color)
    painter.setFont(_SMALL_FONT)
    painter.drawText(rect, Qt.AlignCenter, text)


class NodeItem(QGraphicsObject):
    """One layer on the canvas. Reads everything it shows from the graph node
    and the shape checker's state; holds no model state of its own."""

    def __init__(self, node, state: NodeState | None = None):
        super().__init__()
        self.node_id = node.id
        self.class_name = node.class_name
        self.title = ""
        self.subtitle = ""
        self.status = ""
        self.state = state
        self.n_inputs = 1
        self.n_outputs = 1
        self.port_names: list[str] = []
        self.filled: set[int] = set()
        self.setFlags(QGraphicsItem.ItemIsSelectable | QGraphicsItem.ItemIsMovable
                      | QGraphicsItem.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        # rendered once per zoom level: panning costs a pixmap blit per node
        self.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.hover_port: tuple[str, int] | None = None
        self.is_output = False
        self.hovered = False
        self.update_from(node, state, connected_inputs=0)
        self.setPos(*node.position)

    # -- content ---------------------------------------------------------------
    def update_from(self, node, state: NodeState | None, connected_inputs: int, owner=None) -> None:
        """``owner``: for a use of a shared layer, the node whose layer (and weights) it uses."""
        self.prepareGeometryChange()
        spec = catalog.SPECS[node.class_name]
        self.shared_with = owner.name if owner is not None else None
        if owner is not None:  # drawn with its layer's settings, and a "shared" tag
            node = type("Use", (), {"class_name": owner.class_name, "config": owner.config, "name": node.name,
                                    "id": node.id})()
        summary = catalog.key_params_text(node.class_name, node.config)
        if node.class_name == "InputLayer":
            shape = node.config.get("shape")
            if shape is None and isinstance(node.config.get("batch_shape"), list):
                shape = node.config["batch_shape"][1:]
            summary = "×".join("?" if d is None else str(d) for d in (shape or []))
        block_inputs: list[str] = []
        self.part_frozen = False
        if node.class_name == "Block":  # collapsed: how many layers, and whether some are frozen
            from studio.engine import blocks
            count = blocks.layer_count(node.config)
            summary = f"{count} layer{'s' if count != 1 else ''}"
            block_inputs = [n["name"] for n in (node.config.get("graph") or {}).get("nodes") or []
                            if n["class_name"] == "InputLayer"]
            frozen_inside = blocks.frozen_layers(node.config)
            self.part_frozen = bool(frozen_inside) and node.config.get("trainable", True) is not False
        self.title = f"{'Input' if spec.is_input else node.class_name}  {summary}".strip()
        self.subtitle = node.name
        self.state = state
        self.frozen = node.config.get("trainable") is False  # drawn hatched, with a "frozen" tag
        params = ""
        if state is None:
            self.status = shapes = "checking…"
        elif state.error:
            self.status = shapes = "error"
        else:
            shapes = ", ".join(format_shape(s) for s in (state.outputs or []))
            params = format_params(state.params) if state.params else ""
            self.status = f"{shapes}   {params}" if params else shapes
        self.filled = set()
        if block_inputs:  # one port per Input inside, named after it
            self.n_inputs = len(block_inputs)
            self.port_names = block_inputs
        else:
            limit = catalog.port_limit(node.class_name, node.config)  # keyword ports (mask=...) included
            if limit is None:
                self.n_inputs = max(spec.min_inputs, connected_inputs + 1)
            else:
                self.n_inputs = limit
            self.port_names = [catalog.port_label(node.class_name, node.config, k) for k in range(self.n_inputs)]
            filled = catalog.filled_ports(node.class_name, node.config)   # x + 3.0: the constant's port
            self.filled = set(filled)
            self.port_names = [f"{n} = {filled[k]!r:.24}" if k in filled else n
                               for k, n in enumerate(self.port_names)]
        self.n_outputs = max(1, len(state.outputs) if state and state.outputs else 1)
        error = state is not None and state.error
        self._short_title = "Input" if spec.is_input else node.class_name
        self._compact_titles: dict[int, str] = {}
        # drawn as: title / name ... parameters / output shapes (or the error)
        params_w = _metrics(_BODY_FONT).horizontalAdvance(params) + 10 if params else 0.0
        self._texts = (_elide(self.title, _TITLE_FONT, self._title_width()),
                       _elide(self.subtitle, _BODY_FONT, NODE_W - 18 - params_w),
                       _elide("⚠ " + state.error if error else shapes, _BODY_FONT, NODE_W - 18),
                       params)
        tip = [f"<b>{node.class_name}</b> — {spec.description}", f"name: {node.name}"]
        if self.shared_with:
            tip.append(f"uses the layer '{self.shared_with}' again: the same weights, trained together")
        if node.class_name == "Block":
            tip.append(f"{node.config.get('kind', 'functional')} block of {summary}"
                       + (f"; {len(frozen_inside)} frozen inside" if frozen_inside else "")
                       + " — double-click to open it")
        if state is not None and state.error:
            tip.append(f"<span style='color:#d32f2f'><b>Error:</b> {state.error}</span>")
        if state is not None and state.warning:
            tip.append(f"<span style='color:#b26a00'><b>Warning:</b> {state.warning}</span>")
        if state is not None and state.fix:
            tip.append(f"Suggested fix: <b>{state.fix.label}</b> (click the wrench, or see the inspector)")
        self.setToolTip("<br>".join(tip))
        self.update()

    def set_output(self, on: bool) -> None:
        if on != self.is_output:
            self.is_output = on
            self.update()

    def frozen_tag_rect(self) -> QRectF:
        """Where the "frozen" tag sits: the right of the title line, left of a fix badge."""
        return QRectF(NODE_W - (72 if self.has_fix else 50), 6, 44, 14)

    def output_toggle_rect(self) -> QRectF:
        """The 'output' tag at the bottom right (item coordinates): filled when the
        node is a model output; a click toggles it."""
        return QRectF(NODE_W - 58, NODE_H - 19, 50, 15)

    @property
    def has_fix(self) -> bool:
        return bool(self.state and self.state.fix and (self.state.error or self.state.warning))

    def _title_width(self) -> float:
        return NODE_W - (40 if self.has_fix else 18) - (46 if getattr(self, "frozen", False)
                                                          or getattr(self, "part_frozen", False)
                                                          or getattr(self, "shared_with", None) else 0)

    # -- geometry ------------------------------------------------------------
    def body_rect(self) -> QRectF:
        """The node's box in scene coordinates (without the reach of its hit targets)."""
        p = self.pos()
        return QRectF(p.x(), p.y(), NODE_W, NODE_H)

    @property
    def is_input(self) -> bool:
        return catalog.SPECS[self.class_name].is_input

    def boundingRect(self) -> QRectF:
        # covers the largest port and fix-badge targets (see port_hit_radius)
        first_port_x = NODE_W / (max(self.n_inputs, self.n_outputs) + 1)
        dx = max(PORT_R + 2, FIX_HIT_MAX_GROW - 4, PORT_HIT_MAX_RADIUS - first_port_x)
        dy = PORT_HIT_MAX_RADIUS
        return QRectF(-dx, -dy, NODE_W + 2 * dx, NODE_H + 2 * dy)

    def shape(self) -> QPainterPath:
        """The body plus every hit target at the current zoom: Qt finds the node
        (hover, clicks, the scene's port look-up) anywhere a target reaches."""
        scale = view_scale(self)
        r = port_hit_radius(scale)
        path = QPainterPath()
        path.setFillRule(Qt.WindingFill)
        path.addRoundedRect(QRectF(0, 0, NODE_W, NODE_H), 8, 8)
        for k in range(self.n_inputs):
            path.addEllipse(self.input_port_pos(k, local=True), r, r)
        for k in range(self.n_outputs):
            path.addEllipse(self.output_port_pos(k, local=True), r, r)
        if self.has_fix:
            fix = self.fix_button_rect(scale)
            if not fix.isEmpty():
                path.addRect(fix)
        return path

    def input_port_pos(self, k: int, local: bool = False) -> QPointF:
        p = QPointF(NODE_W * (k + 1) / (self.n_inputs + 1), 0.0)
        return p if local else self.mapToScene(p)

    def output_port_pos(self, k: int, local: bool = False) -> QPointF:
        p = QPointF(NODE_W * (k + 1) / (self.n_outputs + 1), NODE_H)
        return p if local else self.mapToScene(p)

    def port_at(self, scene_pos: QPointF, scale: float | None = None) -> tuple[str, int] | None:
        """('in'|'out', index) of the port under a scene position, if any.

        A port's target is at least HIT_MIN_PX across on screen whatever the
        zoom (``scale``, by default the view's); where targets overlap the
        nearest port wins."""
        radius = port_hit_radius(view_scale(self) if scale is None else scale)
        local = self.mapFromScene(scene_pos)
        best, best_d = None, radius
        for k in range(self.n_inputs):
            d = _dist(local, self.input_port_pos(k, True))
            if d <= best_d:
                best, best_d = ("in", k), d
        for k in range(self.n_outputs):
            d = _dist(local, self.output_port_pos(k, True))
            if d <= best_d:
                best, best_d = ("out", k), d
        return best

    def fix_badge_rect(self) -> QRectF:
        """Where the fix badge is drawn (item coordinates)."""
        return QRectF(NODE_W - 24, 4, 20, 18)

    def fix_button_rect(self, scale: float | None = None) -> QRectF:
        """Where a click applies the suggested fix (item coordinates): the badge
        grown to at least HIT_MIN_PX on screen at this zoom (``scale``, by
        default the view's); empty when the badge is not drawn (far zoomed out)."""
        scale = view_scale(self) if scale is None else scale
        if detail_for(scale) == "block":
            return QRectF()
        badge = self.fix_badge_rect()
        scale = max(scale, 1e-3)
        grow = max(FIX_HIT_MARGIN_PX / scale,
                   (HIT_MIN_PX / scale - min(badge.width(), badge.height())) / 2)
        grow = min(grow, FIX_HIT_MAX_GROW)
        return badge.adjusted(-grow, -grow, grow, grow)

    # -- painting --------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        detail = detail_for(lod)
        spec = catalog.SPECS[self.class_name]
        color = QColor(catalog.category_color(self.class_name))
        rect = QRectF(0, 0, NODE_W, NODE_H)
        error = self.state is not None and self.state.error
        warning = self.state is not None and self.state.warning
        border = ERROR_COLOR if error else WARNING_COLOR if warning else color.darker(130)
        if self.isSelected():
            border = SELECT_COLOR
        if detail == "block":  # far away: a coloured block
            painter.setRenderHint(QPainter.Antialiasing, False)
            painter.fillRect(rect, QColor("#ffffff"))
            painter.fillRect(QRectF(0, 0, 10, NODE_H), color)
            painter.setPen(QPen(border, 0))
            painter.drawRect(rect)
            return
        if self.class_name == "Block":  # a stack of cards: a model folded into one node
            painter.setPen(QPen(color.darker(130), 1.2))
            painter.setBrush(QColor("#e8eaf6"))
            painter.drawRoundedRect(rect.translated(5, 5), 8, 8)
        painter.setPen(QPen(border, 3.0 if (self.isSelected() or error or warning) else 1.2))
        painter.setBrush(QBrush(QColor("#eceff1" if self.frozen else "#ffffff")))
        painter.drawRoundedRect(rect, 8, 8)
        if self.frozen:  # frozen weights: grey, hatched, tagged
            painter.setPen(Qt.NoPen)
            painter.setBrush(QBrush(QColor("#b0bec5"), Qt.BDiagPattern))
            painter.drawRoundedRect(rect, 8, 8)
        painter.setPen(Qt.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(QRectF(0, 0, 6, NODE_H), 3, 3)
        if detail == "full":
            title, subtitle, status, params = self._texts
            painter.setPen(QColor("#212121"))
            painter.setFont(_TITLE_FONT)
            painter.drawText(QPointF(12, 18), title)
            painter.setFont(_BODY_FONT)
            painter.setPen(QColor("#616161"))
            painter.drawText(QPointF(12, 36), subtitle)
            if params:  # right-aligned on the name's line
                painter.drawText(QPointF(NODE_W - 8 - _metrics(_BODY_FONT).horizontalAdvance(params), 36), params)
            painter.setPen(ERROR_COLOR if error else QColor("#2e4053"))
            painter.drawText(QPointF(12, 55), status)
        else:  # the title alone, in a font that stays legible on screen
            px = compact_title_px(lod)
            font = _compact_font(px)
            text = self._compact_titles.get(px)
            if text is None:
                width = self._title_width()
                fits = _metrics(font).horizontalAdvance(self.title) <= width
                text = self.title if fits else _elide(self._short_title, font, width)
                self._compact_titles[px] = text
            painter.setPen(QColor("#212121"))
            painter.setFont(font)
            painter.drawText(QRectF(12, 0, self._title_width(), NODE_H), Qt.AlignLeft | Qt.AlignVCenter, text)
        if detail == "full" and (self.frozen or self.part_frozen):
            _tag(painter, self.frozen_tag_rect(), "frozen" if self.frozen else "part", QColor("#546e7a"),
                 filled=self.frozen)
        elif detail == "full" and getattr(self, "shared_with", None):
            _tag(painter, self.frozen_tag_rect(), "shared", QColor("#6a1b9a"), filled=False)
        if detail == "full" and not spec.is_input and (self.is_output or self.hovered):
            r = self.output_toggle_rect()
            painter.setPen(QPen(QColor("#2e7d32"), 1.0))
            painter.setBrush(QColor("#2e7d32") if self.is_output else QColor("#ffffff"))
            painter.drawRoundedRect(r, 7, 7)
            painter.setPen(QColor("#ffffff") if self.is_output else QColor("#2e7d32"))
            painter.setFont(_SMALL_FONT)
            painter.drawText(r, Qt.AlignCenter, "output" if self.is_output else "output?")
        if self.has_fix:
            r = self.fix_badge_rect()
            painter.setPen(QPen(border, 1.2))
            painter.setBrush(QColor("#fff8e1"))
            painter.drawRoundedRect(r, 4, 4)
            if detail == "full":
                painter.setPen(QColor("#5d4037"))
                painter.setFont(_SMALL_FONT)
                painter.drawText(r, Qt.AlignCenter, "fix")
        # ports
        painter.setPen(QPen(QColor("#37474f"), 1.2))
        for k in range(self.n_inputs):
            hovered = self.hover_port == ("in", k)
            # a port a constant fills (x + 3.0) is drawn solid: nothing needs to be wired there
            fill = "#ffb300" if hovered else ("#78909c" if k in self.filled else "#eceff1")
            painter.setBrush(QColor(fill))
            painter.drawEllipse(self.input_port_pos(k, True), PORT_R, PORT_R)
        for k in range(self.n_outputs):
            hovered = self.hover_port == ("out", k)
            painter.setBrush(QColor("#ffb300") if hovered else color.lighter(150))
            painter.drawEllipse(self.output_port_pos(k, True), PORT_R, PORT_R)

    # -- interaction -----------------------------------------------------------
    @guarded
    def hoverMoveEvent(self, event) -> None:
        port = self.port_at(event.scenePos())
        if port != self.hover_port:
            self.hover_port = port
            if port is not None and port[0] == "in" and len(self.port_names) > 1:
                self.setToolTip(f"input '{self.port_names[port[1]]}'")
            self.update()
        super().hoverMoveEvent(event)

    @guarded
    def hoverEnterEvent(self, event) -> None:
        self.hovered = True
        self.update()
        super().hoverEnterEvent(event)

    @guarded
    def hoverLeaveEvent(self, event) -> None:
        self.hover_port = None
        self.hovered = False
        self.update()
        super().hoverLeaveEvent(event)

    def itemChange(self, change, value):
        if change == QGraphicsItem.ItemPositionHasChanged and self.scene() is not None:
            self.scene().node_item_moved(self)
        return super().itemChange(change, value)


def _dist(a: QPointF, b: QPointF) -> float:
    return math.hypot(a.x() - b.x(), a.y() - b.y())


class EdgeItem(QGraphicsItem):
    """A tensor flowing from an output port to an input port.

    The item is for hit-testing and selection only; every edge is drawn by
    the scene's one :class:`EdgeLayer`, which strokes them all in a couple
    of calls instead of one Python paint call per edge.
    """

    def __init__(self, edge, src_item: NodeItem, dst_item: NodeItem, layer: "EdgeLayer"):
        super().__init__()
        self.edge = edge
        self.src_item = src_item
        self.dst_item = dst_item
        self.layer = layer
        self.label = ""
        self.setFlags(QGraphicsItem.ItemIsSelectable | QGraphicsItem.ItemHasNoContents)
        self.setZValue(-1)
        self._path = QPainterPath()
        self._bounds = QRectF()
        self.update_path()

    def set_label(self, text: str) -> None:
        if text != self.label:
            self.label = text
            self.layer.invalidate()

    def update_path(self) -> None:
        self.prepareGeometryChange()
        a = self.src_item.output_port_pos(self.edge.src_port)
        b = self.dst_item.input_port_pos(self.edge.dst_port)
        self._path = bezier(a, b)
        reach = EDGE_HIT_MAX_WIDTH / 2 + 1
        self._bounds = self._path.boundingRect().adjusted(-reach, -reach, reach, reach)
        self.layer.invalidate()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        """A band around the curve, at least HIT_MIN_PX wide on screen (capped when far out)."""
        scale = max(view_scale(self), 1e-3)
        stroker = QPainterPathStroker()
        stroker.setWidth(min(EDGE_HIT_MAX_WIDTH, max(10.0, HIT_MIN_PX / scale)))
        return stroker.createStroke(self._path)

    def paint(self, painter, option, widget=None) -> None:  # drawn by the EdgeLayer
        pass


class EdgeLayer(QGraphicsItem):
    """Draws every edge of the scene (with its shape label) in batches."""

    def __init__(self, edges: dict):
        super().__init__()
        self.edges = edges
        self.setZValue(-2)
        self.setAcceptedMouseButtons(Qt.NoButton)
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, True)
        self._paths: tuple[QPainterPath, QPainterPath] | None = None
        self._bounds = QRectF()
        self.draft = False  # during a zoom gesture: thin lines, no labels

    def invalidate(self) -> None:
        if self._paths is not None:
            self._paths = None
            self.update()

    def _build(self) -> None:
        normal, selected = QPainterPath(), QPainterPath()
        bounds = QRectF()
        for item in self.edges.values():
            (selected if item.isSelected() else normal).addPath(item._path)
            bounds = bounds.united(item._bounds)
        self._paths = (normal, selected)
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds.adjusted(-20, -20, 120, 20)

    def boundingRect(self) -> QRectF:
        if self._paths is None:
            self._build()
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._paths is None:
            self._build()
        normal, selected = self._paths
        exposed = option.exposedRect
        if not exposed.contains(self._bounds):
            # stroke only what is on screen: Qt would stroke the whole path first
            normal, selected = QPainterPath(), QPainterPath()
            for item in self.edges.values():
                if exposed.intersects(item._bounds):
                    (selected if item.isSelected() else normal).addPath(item._path)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < 0.45 or self.draft:
            painter.setRenderHint(QPainter.Antialiasing, False)
        painter.setBrush(Qt.NoBrush)
        # a cosmetic one-pixel pen: Qt strokes it directly instead of filling
        # an outline polygon, several times faster for long curves
        painter.setPen(QPen(QColor("#607d8b"), 0))
        painter.drawPath(normal)
        if not selected.isEmpty():
            pen = QPen(SELECT_COLOR, 2.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawPath(selected)
        if lod < FULL_DETAIL_LOD or self.draft:
            return
        painter.setFont(_SMALL_FONT)
        fm = painter.fontMetrics()  # the painting device's metrics, so labels are never clipped
        for item in self.edges.values():
            if not item.label or not exposed.intersects(item._bounds):
                continue
            mid = item._path.pointAtPercent(0.5)
            w = fm.horizontalAdvance(item.label) + 10
            r = QRectF(mid.x() + 6, mid.y() - 8, w, 16)
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor(255, 255, 255, 220))
            painter.drawRoundedRect(r, 3, 3)
            painter.setPen(QColor("#455a64"))
            painter.drawText(r, Qt.AlignCenter, item.label)


def bezier(a: QPointF, b: QPointF) -> QPainterPath:
    path = QPainterPath(a)
    dy = max(40.0, abs(b.y() - a.y()) * 0.5)
    path.cubicTo(QPointF(a.x(), a.y() + dy), QPointF(b.x(), b.y() - dy), b)
    return path


class DraftLayer(QGraphicsItem):
    """Stands in for every node while a zoom gesture runs: one batched fill."""

    def __init__(self, nodes: dict):
        super().__init__()
        self.nodes = nodes
        self.setZValue(-1.5)
        self.setAcceptedMouseButtons(Qt.NoButton)
        self.setVisible(False)
        self._bounds = QRectF()

    def refresh(self) -> None:
        self.prepareGeometryChange()
        bounds = QRectF()
        for item in self.nodes.values():
            bounds = bounds.united(item.sceneBoundingRect())
        self._bounds = bounds

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.Antialiasing, False)
        body, bars = QPainterPath(), {}
        for item in self.nodes.values():
            p = item.pos()
            body.addRect(QRectF(p.x(), p.y(), NODE_W, NODE_H))
            color = catalog.category_color(item.class_name)
            bars.setdefault(color, QPainterPath()).addRect(QRectF(p.x(), p.y(), 10, NODE_H))
        painter.setPen(QPen(QColor("#90a4ae"), 0))
        painter.setBrush(QColor("#ffffff"))
        painter.drawPath(body)
        painter.setPen(Qt.NoPen)
        for color, path in bars.items():
            painter.setBrush(QColor(color))
            painter.drawPath(path)


class ShareLinks(QGraphicsItem):
    """Dashed lines from a shared layer to each of its uses: one layer, one set of weights."""

    def __init__(self, nodes: dict):
        super().__init__()
        self.nodes = nodes
        self.pairs: list[tuple[str, str]] = []   # (owner id, use id)
        self.setZValue(-2)
        self.setAcceptedMouseButtons(Qt.NoButton)
        self._bounds = QRectF()

    def set_pairs(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self.refresh()

    def _ends(self):
        for owner, use in self.pairs:
            a, b = self.nodes.get(owner), self.nodes.get(use)
            if a is not None and b is not None:
                yield a.sceneBoundingRect().center(), b.sceneBoundingRect().center()

    def refresh(self) -> None:
        self.prepareGeometryChange()
        bounds = QRectF()
        for a, b in self._ends():
            bounds = bounds.united(QRectF(a, b).normalized().adjusted(-4, -4, 4, 4))
        self._bounds = bounds
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        pen = QPen(QColor("#8e24aa"), 2, Qt.DashLine)
        pen.setCosmetic(True)
        painter.setPen(pen)
        for a, b in self._ends():
            painter.drawLine(a, b)
