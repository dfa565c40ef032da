"""A standalone Python project: model code, training code and data, no Layer Studio needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from studio.engine import datasets
from studio.engine.codegen import CodegenError, generate

_LOADERS = {
    "idx": '''def load_data():
    """The MNIST digit sample (IDX files in data/), split as Layer Studio splits it."""
    import gzip
    here = Path(__file__).parent / "data"
    def idx(name):
        raw = gzip.decompress((here / name).read_bytes())
        ndim = raw[3]
        dims = [int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim)]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    x, y = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
    order = np.random.default_rng(1234).permutation(len(x))
    test, train = order[:2000], order[2000:]
    return (x[train], y[train]), (x[test], y[test])
''',
    "npz": '''def load_data():
    """The project's dataset, saved as data/dataset.npz (Keras's layout)."""
    with np.load(Path(__file__).parent / "data" / "dataset.npz", allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
''',
    "download": '''def load_data():
    """Downloads the dataset through keras.datasets on first use."""
    return getattr(keras.datasets, DATASET).load_data()
''',
}


_CLUSTER_CODE = '''def train_on_cluster(args, x_train, y_train):
    """Synchronous data-parallel training on several machines (MultiWorkerMirroredStrategy).

    model.fit does not work under this strategy in Keras 3 (keras-team/keras
    issue 20585), so a custom step runs through strategy.run in a tf.function.
    """
    import json, os
    import tensorflow as tf
    from model import compile_model
    hosts = args.cluster.split(",")
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": hosts},
                                          "task": {"type": "worker", "index": args.worker_index}})
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = compile_model(build_model())
    batch = TRAINING["batch_size"] * strategy.num_replicas_in_sync
    loss_fn = keras.losses.get(TRAINING["loss"])
    data = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(len(x_train), seed=TRAINING["seed"])
    data = strategy.experimental_distribute_dataset(data.batch(batch, drop_remainder=True))

    @tf.function
    def step(inputs):
        def one(x, y):
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(loss_fn(y, model(x, training=True)), global_batch_size=batch)
            grads = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(one, args=inputs), axis=None)

    for epoch in range(args.epochs or TRAINING["epochs"]):
        losses = [float(step(b)) for b in data]
        print(f"epoch {epoch + 1} loss={sum(losses) / len(losses):.6f}", flush=True)
    return model


'''


def _title(name) -> str:
    """The model's name as one printable line for the README (control characters escaped)."""
    text = " ".join(str(name).split()) or "model"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _whole(value) -> int:
    """A whole number for the generated code (never text from the project)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CodegenError(f"the training setting {value!r:.80} should be a whole number")
    return int(value)


def write_standalone(project, folder: Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True)
    spec = project.dataset or {}
    pre = datasets.Preprocess.from_dict(spec.get("preprocess"))
    if spec.get("kind") == "builtin":
        (folder / "data").mkdir()
        for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
            shutil.copy(datasets.SAMPLE_DIR / name, folder / "data" / name)
        shutil.copy(datasets.SAMPLE_DIR / "README.md", folder / "data" / "README.md")
        loader = _LOADERS["idx"]
    elif spec.get("kind") == "download":
        if spec.get("name") not in datasets.DOWNLOADS:
            raise datasets.DatasetError(f"unknown download {spec.get('name')!r:.80}; choose one of: "
                                        f"{', '.join(datasets.DOWNLOADS)}")
        loader = f"DATASET = {spec['name']!r}\n\n\n" + _LOADERS["download"]
    elif spec:
        ds = datasets.load(spec, project.path.parent if project.path else None)
        (folder / "data").mkdir()
        np.savez_compressed(folder / "data" / "dataset.npz", x_train=ds.x_train, y_train=ds.y_train,
                            x_test=ds.x_test, y_test=ds.y_test)
        loader = _LOADERS["npz"]
    else:
        loader = ('def load_data():\n    raise SystemExit("this project has no dataset: '
                  'edit load_data() in train.py to return (x_train, y_train), (x_test, y_test)")\n')
    (folder / "model.py").write_text(generate(project.graph, project.training), encoding="utf-8")
    prep = []
    if pre.scale:
        prep.append("    x = x.astype('float32') / 255.0 if x.dtype == np.uint8 else x.astype('float32')")
    else:
        prep.append("    x = x.astype('float32')")
    if pre.layout == "flatten":
        prep.append("    x = x.reshape(len(x), -1)")
    elif pre.channel_axis:
        prep.append("    x = x[..., None] if x.ndim == 3 else x")
    if pre.labels == "onehot":
        prep.append("    y = keras.utils.to_categorical(y)")
    (folder / "train.py").write_text(
        '"""Train the model from scratch: python train.py [--epochs N]"""\n'
        "import argparse\nfrom pathlib import Path\n\nimport keras\nimport numpy as np\n\n"
        "from model import build_model, train\n\n"
        f"TRAINING = {{'batch_size': {_whole(project.training.get('batch_size', 128))!r}, "
        f"'loss': {str(project.training.get('loss', 'sparse_categorical_crossentropy'))!r}, "
        f"'epochs': {_whole(project.training.get('epochs', 5))!r}, "
        f"'seed': {_whole(project.training.get('shuffle_seed') or 0)!r}}}\n\n\n"
        + loader + "\n\ndef prepare(x, y):\n" + "\n".join(prep) + "\n    return x, y\n\n\n"
        + _CLUSTER_CODE +
        "def main():\n"
        "    parser = argparse.ArgumentParser()\n"
        "    parser.add_argument('--epochs', type=int, default=None)\n"
        "    parser.add_argument('--save', default='model.keras')\n"
        "    parser.add_argument('--cluster', help='HOST:PORT,HOST:PORT,... (several machines)')\n"
        "    parser.add_argument('--worker-index', type=int, default=0)\n"
        "    args = parser.parse_args()\n"
        "    (x_train, y_train), (x_test, y_test) = load_data()\n"
        "    x_train, y_train = prepare(x_train, y_train)\n"
        "    x_test, y_test = prepare(x_test, y_test)\n"
        "    if args.cluster:\n"
        "        trained = train_on_cluster(args, x_train, y_train)\n"
        "        if args.worker_index != 0:\n"
        "            return  # worker 0 evaluates and saves\n"
        "        from model import compile_model\n"
        "        model = compile_model(build_model())  # outside the strategy: evaluate/save as usual\n"
        "        model.set_weights(trained.get_weights())\n"
        "    else:\n"
        "        model = build_model()\n"
        "        train(model, x_train, y_train, epochs=args.epochs)\n"
        "    print('held-out:', dict(zip(model.metrics_names, np.atleast_1d(model.evaluate(x_test, y_test, verbose=0)))))\n"
        "    model.save(args.save)\n\n\n"
        "if __name__ == '__main__':\n    main()\n", encoding="utf-8")
    (folder / "requirements.txt").write_text("tensorflow>=2.16\nkeras>=3\nnumpy\n", encoding="utf-8")
    (folder / "README.md").write_text(
        f"# {_title(project.graph.name)}\n\nExported from Layer Studio. Needs only TensorFlow/Keras and NumPy:\n\n"
        "```sh\npip install -r requirements.txt\npython train.py            # trains from scratch, saves model.keras\n"
        "python train.py --epochs 1\n```\n\n`model.py` builds the model with the Keras functional API and holds "
        "the training settings; `train.py` loads the data and trains.\n", encoding="utf-8")
