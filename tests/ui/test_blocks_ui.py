"""Blocks in the window: drawn collapsed, opened in place with a breadcrumb, edited with
the same inspector and undo, made from a selection, dissolved, frozen."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from studio.engine import blocks
from studio.engine.project import Project
from studio.ui import commands
from studio.ui.canvas import menus

from .helpers import view_point


def _model_with_block():
    import keras
    from keras import layers

    augmentation = keras.Sequential([keras.Input((12, 12, 1)), layers.RandomFlip("horizontal"),
                                     layers.RandomZoom(0.1)], name="augmentation")
    base = keras.Sequential([keras.Input((12, 12, 1)), layers.Conv2D(4, 3, name="c1"), layers.Conv2D(4, 3, name="c2"),
                             layers.BatchNormalization(name="bn")], name="base")
    base.trainable = False
    inputs = keras.Input((12, 12, 1), name="image")
    x = base(augmentation(inputs))
    outputs = layers.Dense(3, activation="softmax", name="classes")(layers.Flatten(name="flat")(x))
    from studio.engine.importer import graph_from_model
    graph, weights = graph_from_model(keras.Model(inputs, outputs, name="book"))
    return Project(graph=graph, weights=weights)


def _open_book(window):
    """The window on the model with an augmentation block and a frozen base; its graph and base."""
    window.set_project(_model_with_block())
    window.flush_updates()
    g = window.document.graph
    return g, g.node_by_name("base")


def test_a_block_is_drawn_collapsed_and_opens_in_place_with_a_breadcrumb(qtbot, window):
    g, base = _open_book(window)
    item = window.scene.node_items[base.id]
    assert item.title == "Block  3 layers" and item.frozen and len(item.port_names) == 1
    assert window.document.checker.states[base.id].trainable_params == 0
    assert not window.blocks.breadcrumb.isVisible()

    window.view.set_zoom(1.0)
    window.view.centerOn(item)
    QTest.mouseDClick(window.view.viewport(), Qt.LeftButton, Qt.NoModifier,
                      view_point(window, item.mapToScene(item.boundingRect().center())))
    assert window.blocks.levels, "double-clicking a block opens it"
    inside = window.blocks.current
    assert [b.text() for b in window.blocks.breadcrumb.buttons] == ["book", "base"]
    assert window.blocks.breadcrumb.isVisible()
    assert set(window.scene.node_items) == set(inside.graph.nodes)
    assert window.scene.node_items[inside.graph.node_by_name("c1").id].frozen

    # the same inspector and undo edit the inside, and the block in the model follows
    c2 = inside.graph.node_by_name("c2")
    window.scene.select_nodes([c2.id])
    assert window.inspector.node_ids == [c2.id]
    window.undo_stack.push(commands.set_param_command(inside.graph, [c2.id], "filters", 6))
    window.flush_updates()
    assert blocks.inner_graph(g.nodes[base.id].config).node_by_name("c2").config["filters"] == 6
    assert window.document.checker.states[base.id].outputs == [(None, 8, 8, 6)]

    window.blocks.breadcrumb.buttons[0].click()  # back to the model
    assert not window.blocks.levels and window.scene is window.root_scene
    window.undo_stack.undo()  # an edit made inside, undone from outside
    window.flush_updates()
    assert blocks.inner_graph(g.nodes[base.id].config).node_by_name("c2").config["filters"] == 4
    window.undo_stack.redo()
    assert blocks.inner_graph(g.nodes[base.id].config).node_by_name("c2").config["filters"] == 6


def test_freeze_up_to_here_inside_a_block_is_the_books_fine_tuning_step(qtbot, window):
    g, base = _open_book(window)
    window.blocks.open_block(base.id)
    inside = window.blocks.current
    c1 = inside.graph.node_by_name("c1")
    window.scene.select_nodes([c1.id])
    menu = window.edit.show_context_menu("node", c1.id, QPointF(0, 0), QPoint(0, 0))
    menus.action(menu, "freeze_up_to").trigger()
    menu.close()
    window.flush_updates()
    config = g.nodes[base.id].config
    assert config["trainable"] is True
    assert blocks.frozen_layers(config) == ["c1"]
    state = window.document.checker.states[base.id]
    assert 0 < state.trainable_params < state.params
    assert window.root_scene.node_items[base.id].part_frozen
    window.undo_stack.undo()
    assert g.nodes[base.id].config["trainable"] is False


def test_make_a_block_from_the_selection_and_dissolve_it_one_undo_step_each(qtbot, window):
    g = window.document.graph
    before = g.to_dict()
    names = ["conv2", "pool2"] if g.node_by_name("pool2") else [n.name for n in g.nodes.values()][1:3]
    chosen = [g.node_by_name(n).id for n in names]
    window.scene.select_nodes(chosen)
    window.blocks.act_make.trigger()
    window.flush_updates()
    made = [n for n in g.nodes.values() if n.class_name == "Block"]
    assert len(made) == 1 and blocks.layer_count(made[0].config) == 2
    assert not window.document.errors(), window.document.errors()
    assert window.scene.selected_node_ids() == [made[0].id]
    window.undo_stack.undo()
    assert g.to_dict() == before
    window.undo_stack.redo()
    block = next(n for n in g.nodes.values() if n.class_name == "Block")
    menu = window.edit.show_context_menu("node", block.id, QPointF(0, 0), QPoint(0, 0))
    assert menus.action(menu, "open_block") is not None
    menus.action(menu, "dissolve_block").trigger()
    menu.close()
    window.flush_updates()
    assert not any(n.class_name == "Block" for n in g.nodes.values())
    assert sorted(n.name for n in g.nodes.values()) == sorted(x["name"] for x in before["nodes"])
    assert not window.document.errors()


def test_freezing_a_block_freezes_its_inside_and_a_deleted_open_block_is_left(qtbot, window):
    window.set_project(_model_with_block())
    window.flush_updates()
    g = window.document.graph
    augmentation = g.node_by_name("augmentation")
    base = g.node_by_name("base")
    window.blocks.set_frozen([base.id], frozen=False)
    window.flush_updates()
    assert blocks.frozen_layers(g.nodes[base.id].config) == []
    state = window.document.checker.states[base.id]
    assert state.trainable_params == state.params - 8  # BatchNormalization's moving mean and variance
    window.blocks.open_block(augmentation.id)
    assert window.blocks.levels
    window.undo_stack.push(commands.RemoveNodes(g, [augmentation.id]))
    assert not window.blocks.levels and window.scene is window.root_scene


def test_use_a_layer_again_with_shared_weights_then_make_it_independent(qtbot, window):
    g = window.document.graph
    dense = next(n for n in g.nodes.values() if n.class_name == "Dense")
    window.scene.select_nodes([dense.id])
    menu = window.edit.show_context_menu("node", dense.id, QPointF(0, 0), QPoint(0, 0))
    menus.action(menu, "use_again").trigger()
    menu.close()
    window.flush_updates()
    use = next(n for n in g.nodes.values() if n.config.get("shares") == dense.id)
    item = window.scene.node_items[use.id]
    assert item.shared_with == dense.name and item.title.startswith("Dense")
    assert window.scene.share_links.pairs == [(dense.id, use.id)]  # drawn linked to its layer
    assert not window.scene.share_links.boundingRect().isEmpty()
    assert window.scene.selected_node_ids() == [use.id]
    assert window.inspector.fields == {}  # no settings of its own
    window.undo_stack.push(commands.set_param_command(g, [dense.id], "units", 17))
    window.flush_updates()
    assert "17" in window.scene.node_items[use.id].title  # editing the layer edits its uses
    window.blocks.make_independent(use.id)
    assert g.nodes[use.id].config.get("units") == 17 and "shares" not in g.nodes[use.id].config
    assert window.scene.share_links.pairs == []
    window.undo_stack.undo()
    assert g.nodes[use.id].config == {"shares": dense.id}


def test_opening_a_use_of_a_shared_block_opens_the_block_it_uses(qtbot, window):
    g, base = _open_book(window)
    window.blocks.use_again(base.id)
    use = next(n for n in g.nodes.values() if n.config.get("shares") == base.id)
    window.blocks.open_block(use.id)
    assert window.blocks.current.block_id == base.id
    assert [b.text() for b in window.blocks.breadcrumb.buttons] == ["book", "base"]
