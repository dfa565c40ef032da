"""Random edit sequences through the real undo commands keep the graph sound,
and undoing everything returns the initial graph exactly."""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtGui import QUndoStack

from studio.engine import templates
from studio.engine.document import Document
from studio.engine.graph import GraphError
from studio.engine.shapes import Fix
from studio.ui import commands
from studio.ui.canvas.scene import GraphScene

LAYERS = ["Dense", "Dropout", "Add", "Concatenate", "Flatten", "Conv2D", "MultiHeadAttention", "InputLayer"]


def check_invariants(g):
    names = [n.name for n in g.nodes.values()]
    assert len(names) == len(set(names))
    fed = set()
    for e in g.edges:
        assert e.src in g.nodes and e.dst in g.nodes
        assert (e.dst, e.dst_port) not in fed
        fed.add((e.dst, e.dst_port))
        assert not g.nodes[e.dst].spec.is_input
        hi = g.nodes[e.dst].spec.max_inputs
        assert hi is None or e.dst_port < hi
    g.topological_order()  # raises on a cycle
    assert all(o in g.nodes for o in g.output_ids)


def check_canvas(scene, g):
    """The canvas shows exactly the document's graph: same nodes, names, places, wires."""
    assert set(scene.node_items) == set(g.nodes)
    assert set(scene.edge_items) == set(g.edges)
    for node_id, item in scene.node_items.items():
        node = g.nodes[node_id]
        assert item.node_id == node_id and item.subtitle == node.name
        assert (item.pos().x(), item.pos().y()) == node.position


def pick(data, seq, label):
    seq = sorted(seq)
    return data.draw(st.sampled_from(seq), label=label) if seq else None


def make_command(g, data):
    kind = data.draw(st.sampled_from(["add", "remove", "connect", "disconnect", "move", "param",
                                      "rename", "paste", "layout", "compound", "output", "fix"]), label="kind")
    ids = list(g.nodes)
    if kind == "add":
        return commands.AddNode(g, data.draw(st.sampled_from(LAYERS)), (data.draw(st.integers(-500, 500)), 0.0))
    if kind == "remove" and ids:
        chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
        return commands.RemoveNodes(g, chosen)
    if kind == "connect" and len(ids) >= 2:
        src, dst = pick(data, ids, "src"), pick(data, ids, "dst")
        port = data.draw(st.integers(0, 3))
        if g.can_connect(src, 0, dst, port) is None:
            return commands.Connect(g, src, 0, dst, port)
        return None
    if kind == "disconnect" and g.edges:
        return commands.Disconnect(g, [pick(data, g.edges, "edge")])
    if kind == "move" and ids:
        i = pick(data, ids, "node")
        return commands.MoveNodes(g, {i: g.nodes[i].position}, {i: (float(data.draw(st.integers(-999, 999))), 5.0)})
    if kind == "param" and ids:
        chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
        return commands.set_param_command(g, chosen, data.draw(st.sampled_from(["units", "rate", "activation"])),
                                          data.draw(st.sampled_from([3, 0.5, "relu", None])))
    if kind == "rename" and ids:
        i = pick(data, ids, "node")
        name = data.draw(st.sampled_from(["a", "b", "classes", "x_1", "conv1"]))
        return commands.Rename(g, i, name) if g.node_by_name(name) is None else None
    if kind == "paste" and ids:
        chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=4, unique=True))
        d = commands.subgraph_data(g, chosen)
        return commands.AddSubgraph(g, d["nodes"], d["edges"])
    if kind == "layout":
        return commands.layout_command(g)
    if kind == "output" and ids:
        i = pick(data, ids, "node")
        return None if g.nodes[i].spec.is_input else commands.toggle_output_command(g, i)  # None: a no-op
    if kind == "fix" and ids:  # the engine's fix operations, replayed by undo/redo
        i = pick(data, [n for n in ids if not g.nodes[n].spec.is_input] or ids, "node")
        action = data.draw(st.sampled_from(["bypass", "add_input", "mark_output"]), label="fix")
        if action == "bypass" and g.nodes[i].spec.is_input:
            return None
        before = g.to_dict()
        try:
            return commands.fix_command(g, Fix(f"fix {action}", action, i))
        except GraphError:  # refused (an Input given an Input): nothing changed, nothing to push
            assert g.to_dict() == before
            return None
    if kind == "compound" and g.edges and ids:
        e = pick(data, g.edges, "edge")
        rest = [i for i in ids if i not in (e.src, e.dst)]
        parts = [commands.Disconnect(g, [e])]
        if rest:
            parts.append(commands.RemoveNodes(g, [rest[0]]))
        return commands.Compound("Delete", parts)
    return None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_edit_sequences_undo_to_the_start(qapp, data):
    project = templates.build(data.draw(st.sampled_from(sorted(templates.TEMPLATES)), label="template"))
    document = Document(project)
    g = document.graph
    stack = QUndoStack()
    scene = GraphScene(document, stack)
    initial = copy.deepcopy(g.to_dict())
    states = [initial]
    for _ in range(data.draw(st.integers(1, 25), label="steps")):
        try:
            cmd = make_command(g, data)
        except GraphError:
            cmd = None
        if cmd is None:
            continue
        stack.push(cmd)
        check_invariants(g)
        check_canvas(scene, g)
        states.append(copy.deepcopy(g.to_dict()))
    final = states[-1]
    while stack.canUndo():
        stack.undo()
        check_invariants(g)
        check_canvas(scene, g)
    assert g.to_dict() == initial
    while stack.canRedo():
        stack.redo()
        check_invariants(g)
        check_canvas(scene, g)
    assert g.to_dict() == final


def test_a_refused_engine_edit_never_reaches_the_undo_stack(qapp):
    """An engine operation that fails raises when its command is made, with the graph
    as it was, so nothing half-done is pushed (an Input given an Input, here)."""
    document = Document(templates.build("bilstm_text"))
    g = document.graph
    stack = QUndoStack()
    before = copy.deepcopy(g.to_dict())
    first_input = g.input_nodes()[0]
    try:
        stack.push(commands.fix_command(g, Fix("Add an Input", "add_input", first_input.id)))
    except GraphError as exc:
        assert "already has its input" in str(exc)
    else:
        raise AssertionError("the fix should be refused")
    assert stack.count() == 0 and g.to_dict() == before
    dense = next(n for n in g.nodes.values() if n.class_name == "Dense")
    stack.push(commands.fix_command(g, Fix("Mark as output", "mark_output", dense.id)))
    assert dense.id in g.output_ids and stack.count() == 1
    stack.undo()
    assert g.to_dict() == before
    stack.redo()
    assert dense.id in g.output_ids
