import pytest

from studio.engine.graph import Edge, GraphError, ModelGraph

from .helpers import chain


def test_add_connect_and_events():
    g = ModelGraph()
    seen = []
    for ev in (g.node_added, g.node_removed, g.node_changed, g.edge_added, g.edge_removed):
        ev.connect(lambda *a, name=ev.name: seen.append(name))
    a = g.add_node("InputLayer", {"shape": [4]})
    b = g.add_node("Dense", {"units": 3})
    e = g.connect(a.id, b.id)
    assert e == Edge(a.id, 0, b.id, 0)
    g.set_param(b.id, "units", 5)
    g.rename(b.id, "head")
    g.move(b.id, (10, 20))
    g.remove_node(b.id)
    assert seen == ["node_added", "node_added", "edge_added", "node_changed", "node_changed",
                    "node_changed", "edge_removed", "node_removed"]
    assert not g.edges


def test_unique_editable_names():
    g = ModelGraph()
    a = g.add_node("Dense")
    b = g.add_node("Dense")
    assert a.name == "dense" and b.name == "dense_1"
    with pytest.raises(GraphError, match="already used"):
        g.rename(b.id, "dense")
    with pytest.raises(GraphError, match="not a valid layer name"):
        g.rename(b.id, "a/b")
    g.rename(b.id, "classifier")
    assert g.node_by_name("classifier") is b


def test_refuses_cycles_double_feeding_and_edges_into_inputs():
    g = ModelGraph()
    i, d1, d2 = chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 4}), ("Dense", {"units": 4}))
    add = g.add_node("Add")
    g.connect(d1.id, add.id, 0)
    g.connect(d2.id, add.id, 1)
    assert "itself" in g.can_connect(add.id, 0, add.id, 2)
    with pytest.raises(GraphError, match="already connected"):
        g.connect(i.id, d1.id, 0)
    with pytest.raises(GraphError, match="model input"):
        g.connect(d1.id, i.id, 0)
    with pytest.raises(GraphError, match="itself"):
        g.connect(d1.id, d1.id, 0)
    with pytest.raises(GraphError, match="takes 1 input"):
        g.connect(i.id, d2.id, 1)
    edges_before = set(g.edges)
    with pytest.raises(GraphError):
        g.connect(add.id, d1.id, 0)
    assert g.edges == edges_before


def test_cycle_through_merge_is_refused():
    g = ModelGraph()
    i, d1, d2 = chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 4}), ("Dense", {"units": 4}))
    add = g.add_node("Add")
    g.connect(d2.id, add.id, 0)
    # add -> d1 would close the loop d1 -> d2 -> add -> d1 (free d1's port first)
    g.disconnect(g.in_edges(d1.id)[0])
    reason = g.can_connect(add.id, 0, d1.id, 0)
    assert reason is not None and "cycle" in reason
    with pytest.raises(GraphError, match="cycle"):
        g.connect(add.id, d1.id, 0)


def test_multi_input_ports_in_order():
    g = ModelGraph()
    q = g.add_node("InputLayer", {"shape": [5, 8]})
    v = g.add_node("InputLayer", {"shape": [7, 8]})
    mha = g.add_node("MultiHeadAttention")
    g.connect(q.id, mha.id, 0)
    g.connect(v.id, mha.id, 1)
    assert g.inputs_of(mha.id) == {0: (q.id, 0), 1: (v.id, 0)}
    assert mha.spec.port_name(0) == "query" and mha.spec.port_name(1) == "value"
    assert g.free_port(mha.id) == 2
    with pytest.raises(GraphError, match="no port 4"):
        g.connect(q.id, mha.id, 3)


def test_problems_report_dangling_and_unconnected():
    g = ModelGraph()
    assert any("no Input" in p.message for p in g.problems())
    i, d = chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 2}))
    assert g.problems() == []
    stray = g.add_node("Dense")
    add = g.add_node("Add")
    g.connect(d.id, add.id, 1)  # port 0 left empty
    messages = {p.node_id: p.message for p in g.problems()}
    assert "missing input 'in 1'" in messages[add.id]
    # a layer wired to nothing is not part of the model: a warning, never an error or an output
    assert stray.id not in messages
    assert "not connected to an Input" in g.stray_nodes()[stray.id]
    assert g.model_outputs() == [add.id]
    island_in = g.add_node("Dense")
    island = g.add_node("Dense")
    g.connect(island_in.id, island.id)
    assert "not connected to an Input" in g.stray_nodes()[island.id]
    assert island.id not in g.model_node_ids()


def test_outputs_are_marked_or_the_one_open_end():
    g = ModelGraph()
    i, a = chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 2}))
    assert g.model_outputs() == [a.id]
    b = g.add_node("Dense", {"units": 1})
    g.connect(i.id, b.id)
    # two open ends: the output is not obvious, so the graph asks instead of guessing
    assert g.model_outputs() == []
    assert any("output is not clear" in p.message for p in g.problems())
    g.set_outputs([b.id, a.id])
    assert g.model_outputs() == [b.id, a.id] and g.problems() == []
    g.set_outputs([a.id])
    assert g.model_outputs() == [a.id]
    assert "leads to no model output" in g.stray_nodes()[b.id]
    g.remove_node(b.id)
    assert g.model_outputs() == [a.id]


def test_dict_round_trip_and_downstream():
    g = ModelGraph("m")
    i, a, b = chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 2}), ("Dense", {"units": 1}))
    g2 = ModelGraph.from_dict(g.to_dict())
    assert g2.to_dict() == g.to_dict()
    assert g.downstream([a.id]) == {a.id, b.id}
    assert g.topological_order() == [i.id, a.id, b.id]
