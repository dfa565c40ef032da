import keras
import numpy as np
import pytest

from studio.engine import templates
from studio.engine.codegen import generate
from studio.engine.compiler import CompileError, compile_graph
from studio.engine.graph import ModelGraph
from studio.engine.importer import graph_from_model

from .helpers import assert_same_model, chain, mnist_convnet, normalize


def multi_io_graph() -> ModelGraph:
    """Three inputs, two outputs: the book's ticket-routing model (a template)."""
    return templates.ticket_router().graph


def test_compiled_model_is_exactly_the_graph():
    g = mnist_convnet()
    model = compile_graph(g)
    assert [l.name for l in model.layers] == [n.name for n in g.nodes.values()]
    assert model.count_params() == 104202
    conv = model.get_layer("conv2d")
    assert conv.filters == 32 and conv.kernel_size == (3, 3) and conv.activation.__name__ == "relu"
    assert model.output_shape == (None, 10)


def test_multi_input_multi_output():
    g = multi_io_graph()
    model = compile_graph(g)
    assert [t.name for t in model.inputs] == ["title", "text_body", "tags"]
    assert [o.shape for o in model.outputs] == [(None, 1), (None, 4)]
    assert model.count_params() == 1_286_789
    g.set_outputs([g.node_by_name("department").id, g.node_by_name("priority").id])
    assert [o.shape for o in compile_graph(g).outputs] == [(None, 4), (None, 1)]


def test_errors_are_pinned_to_nodes():
    g = ModelGraph()
    i, d = chain(g, ("InputLayer", {"shape": [4]}), ("Dense", {"units": 2}))
    stray = g.add_node("Dense")  # wired to nothing: left out of the model, not an extra output
    assert [layer.name for layer in compile_graph(g).layers] == [i.name, d.name]
    bad = g.add_node("Add")
    g.connect(d.id, bad.id, 1)  # the model's only end, with port 0 empty
    with pytest.raises(CompileError) as info:
        compile_graph(g)
    assert info.value.errors[0][0] == bad.id
    g.remove_node(bad.id)
    g.remove_node(stray.id)
    g.set_param(d.id, "units", -3)
    with pytest.raises(CompileError) as info:
        compile_graph(g)
    assert info.value.errors[0][0] == d.id and "'dense'" in str(info.value)


def test_weights_are_applied_and_checked():
    g = mnist_convnet()
    m1 = compile_graph(g)
    weights = {l.name: l.get_weights() for l in m1.layers if l.get_weights()}
    m2 = compile_graph(g, weights)
    x = np.random.RandomState(0).rand(2, 28, 28, 1).astype("float32")
    assert np.abs(m1.predict(x, verbose=0) - m2.predict(x, verbose=0)).max() == 0
    g.set_param(g.node_by_name("dense").id, "units", 5)
    with pytest.raises(CompileError, match="settings changed"):
        compile_graph(g, weights)


def _run_generated(graph, training=None):
    code = generate(graph, training)
    compile(code, "<generated>", "exec")
    namespace = {"__name__": "generated"}
    exec(code, namespace)
    return code, namespace


@pytest.mark.parametrize("builder", [mnist_convnet, multi_io_graph])
def test_generated_code_rebuilds_the_same_model(builder):
    g = builder()
    code, ns = _run_generated(g, {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9,
                                  "loss": "mse", "metrics": ["mae"], "batch_size": 32, "epochs": 2,
                                  "validation_split": 0.2})
    rebuilt = ns["build_model"]()
    assert_same_model(compile_graph(g), rebuilt)
    compiled = ns["compile_model"](rebuilt)
    assert isinstance(compiled.optimizer, keras.optimizers.SGD)
    assert "layers.Conv2D(" in code or "layers.Concatenate(" in code
    assert "import studio" not in code


def test_generated_code_is_readable():
    code = generate(mnist_convnet())
    assert "conv2d = layers.Conv2D(filters=32, kernel_size=(3, 3), activation='relu', name='conv2d')(input)" in code
    assert "kernel_initializer" not in code  # defaults are left out


def test_generated_code_for_imported_wrappers_and_attention():
    inp = keras.Input((12, 8), name="seq")
    x = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True), name="bilstm")(inp)
    x = keras.layers.TimeDistributed(keras.layers.Dense(4), name="td")(x)
    att = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x)
    out = keras.layers.GlobalAveragePooling1D(name="gap")(keras.layers.Add(name="res")([x, att]))
    model = keras.Model(inp, out)
    g, _ = graph_from_model(model)
    _, ns = _run_generated(g)
    assert_same_model(model, ns["build_model"]())
    for a, b in zip(model.layers, ns["build_model"]().layers):
        assert normalize(a.get_config()) == normalize(b.get_config())
