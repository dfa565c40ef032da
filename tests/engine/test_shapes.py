from studio.engine.graph import ModelGraph
from studio.engine.shapes import ShapeChecker, apply_fix, format_shape

from .helpers import chain, mnist_convnet


def test_every_node_gets_shape_and_params():
    g = mnist_convnet()
    ch = ShapeChecker(g)
    ch.refresh()
    by_name = {g.nodes[i].name: s for i, s in ch.states.items()}
    assert by_name["conv2d"].output == (None, 26, 26, 32)
    assert by_name["conv2d"].params == 320
    assert by_name["flatten"].output == (None, 1152)
    assert by_name["dense"].output == (None, 10)
    assert by_name["dense"].params == 11530
    assert ch.total_params() == 104202  # the book's MNIST convnet
    assert ch.errors() == []
    assert format_shape((None, 10)) == "(None, 10)"


def test_dense_after_image_tensor_suggests_flatten_and_fix_works():
    g = ModelGraph()
    i, c, d = chain(g, ("InputLayer", {"shape": [28, 28, 1]}),
                    ("Conv2D", {"filters": 8, "kernel_size": [3, 3]}),
                    ("Dense", {"units": 10, "activation": "softmax"}))
    ch = ShapeChecker(g)
    st = ch.state(d.id)
    assert st.warning and "Flatten" in st.warning and "GlobalAveragePooling2D" in st.warning
    assert st.fix.class_name == "Flatten"
    apply_fix(g, st.fix)
    ch.refresh()
    assert ch.state(d.id).output == (None, 10)
    assert ch.state(d.id).warning is None


def test_merge_of_unequal_shapes_is_pinned_with_a_fix():
    g = ModelGraph()
    i = g.add_node("InputLayer", {"shape": [16, 16, 3]})
    a = g.add_node("Conv2D", {"filters": 32, "kernel_size": [3, 3], "padding": "same"})
    b = g.add_node("Conv2D", {"filters": 16, "kernel_size": [3, 3], "padding": "same"})
    add = g.add_node("Add")
    for n in (a, b):
        g.connect(i.id, n.id)
    g.connect(a.id, add.id, 0)
    g.connect(b.id, add.id, 1)
    ch = ShapeChecker(g)
    st = ch.state(add.id)
    assert st.error and "same shape" in st.error and "add" in st.error
    assert "(None, 16, 16, 32)" in st.error and "(None, 16, 16, 16)" in st.error
    assert ch.state(a.id).ok and ch.state(b.id).ok  # pinned to the merge only
    apply_fix(g, st.fix)
    ch.refresh()
    assert ch.state(add.id).ok and ch.state(add.id).output == (None, 16, 16, 32)


def test_wrong_input_count_on_merge():
    g = ModelGraph()
    i, d, add = chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 4}), ("Add", {}))
    ch = ShapeChecker(g)
    st = ch.state(add.id)
    assert "needs at least 2 inputs" in st.error and st.fix.action == "bypass"
    out = g.add_node("Dense", {"units": 1})
    g.connect(add.id, out.id)
    apply_fix(g, ch.state(add.id).fix)
    ch.refresh()
    assert add.id not in g.nodes and ch.state(out.id).ok


def test_kernel_larger_than_input():
    g = ModelGraph()
    i, c = chain(g, ("InputLayer", {"shape": [3, 3, 1]}), ("Conv2D", {"filters": 4, "kernel_size": [5, 5]}))
    ch = ShapeChecker(g)
    st = ch.state(c.id)
    assert "larger than its input" in st.error and "5×5" in st.error and "3×3" in st.error
    apply_fix(g, st.fix)
    assert ch.state(c.id).output == (None, 3, 3, 4)


def test_missing_input_or_output_is_reported():
    g = ModelGraph()
    d = g.add_node("Dense", {"units": 3})
    ch = ShapeChecker(g)
    ch.refresh()
    assert any("no Input" in p for p in ch.problems)
    assert "no input connected" in ch.state(d.id).error
    apply_fix(g, ch.graph_fix)
    g.set_param(g.input_nodes()[0].id, "shape", [5])
    ch.refresh()
    assert ch.problems == [] and ch.state(d.id).output == (None, 3)
    g2 = ModelGraph()
    g2.add_node("InputLayer", {"shape": [4]})
    ch2 = ShapeChecker(g2)
    ch2.refresh()
    assert any("no output" in p for p in ch2.problems)


def test_errors_are_plain_and_downstream_waits():
    g = ModelGraph()
    i, r, d = chain(g, ("InputLayer", {"shape": [10]}), ("Reshape", {"target_shape": [3, 3]}), ("Dense", {"units": 2}))
    ch = ShapeChecker(g)
    assert "cannot take input (None, 10)" in ch.state(r.id).error
    assert "waiting for 'reshape'" in ch.state(d.id).error
    g.set_param(r.id, "target_shape", [5, 2])
    assert ch.state(d.id).output == (None, 5, 2)


def test_incremental_recheck_touches_only_affected_nodes():
    g = mnist_convnet()
    ch = ShapeChecker(g, cache_size=0)
    ch.refresh()
    nodes = list(g.nodes.values())
    before = ch.checked_count
    changed = set()
    ch.states_changed.connect(changed.update)
    # a parameter that does not change the output shape stops propagation at once
    g.set_param(nodes[1].id, "activation", "tanh")
    ch.refresh()
    assert ch.checked_count - before == 1
    # changing filters changes shapes downstream of that conv only
    before = ch.checked_count
    g.set_param(nodes[3].id, "filters", 16)
    ch.refresh()
    # conv, pool, and the next conv (its params change, its output shape does not,
    # so flatten and dense are not checked again)
    assert ch.checked_count - before == 3
    assert nodes[0].id not in changed and nodes[6].id not in changed and nodes[5].id in changed
    assert ch.state(nodes[3].id).params == 16 * 9 * 32 + 16


def test_multi_output_layer_ports():
    g = ModelGraph()
    i, lstm = chain(g, ("InputLayer", {"shape": [7, 3]}), ("LSTM", {"units": 5, "return_state": True}))
    d = g.add_node("Dense", {"units": 2})
    g.connect(lstm.id, d.id, 0, src_port=2)
    ch = ShapeChecker(g)
    assert ch.state(lstm.id).outputs == [(None, 5), (None, 5), (None, 5)]
    assert ch.state(d.id).output == (None, 2)


def test_hostile_config_is_an_error_not_an_import():
    g = ModelGraph()
    i, d = chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 2}))
    g.set_param(d.id, "kernel_initializer", {"module": "os", "class_name": "system", "config": {"command": "touch x"}})
    ch = ShapeChecker(g)
    assert "not part of Keras" in ch.state(d.id).error


def test_true_or_false_where_a_layer_takes_a_number_is_an_error():
    for class_name, config, setting in (("Dense", {"units": True}, "units"),
                                        ("Conv2D", {"filters": 4, "kernel_size": [3, False]}, "kernel_size")):
        g = ModelGraph()
        shape = [8] if class_name == "Dense" else [8, 8, 1]
        _, node = chain(g, ("InputLayer", {"shape": shape}), (class_name, config))
        error = ShapeChecker(g).state(node.id).error
        assert error is not None and f"setting '{setting}' should be" in error, error
    g = ModelGraph()
    _, node = chain(g, ("InputLayer", {"shape": [8]}), ("Dense", {"units": 3, "use_bias": False}))
    assert ShapeChecker(g).state(node.id).error is None


def test_a_setting_keras_refuses_is_named_without_keras_s_dump_of_the_config():
    g = ModelGraph("refused")
    x = g.add_node("InputLayer", {"shape": [8]}, name="x")
    d = g.add_node("Dense", {"units": -4}, name="hidden")
    g.connect(x.id, d.id)
    checker = ShapeChecker(g)
    checker.refresh()
    error = checker.states[d.id].error
    assert error.startswith("'hidden' has a setting Keras refuses: ") and "units" in error
    assert "deserializing" not in error and "probe" not in error and "cannot take input" not in error
