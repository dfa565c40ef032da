"""Synchronous data-parallel training across machines (MultiWorkerMirroredStrategy).

Keras 3's ``model.fit`` fails under MultiWorkerMirroredStrategy (keras-team/keras
issue 20585), so this path runs the same model, optimizer and loss as the project
through a custom training step: ``strategy.run`` inside a ``tf.function``, with
the loss averaged over the global batch. Every worker runs the same command with
its own index; worker 0 writes the run folder, the others write nothing. If a
worker disappears, the others fail their next collective operation after a
bounded timeout and exit with a clear message instead of hanging.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable


class ClusterError(Exception):
    """The cluster could not be formed or lost a worker."""


class ClusterArgumentError(ClusterError):
    """--cluster / --worker-index (or their absence) do not describe a cluster: bad input (exit 2)."""


def tf_config(cluster: list[str], index: int) -> str:
    if not 0 <= index < len(cluster):
        raise ClusterArgumentError(f"--worker-index {index} is outside the cluster of {len(cluster)} workers")
    return json.dumps({"cluster": {"worker": list(cluster)}, "task": {"type": "worker", "index": index}})


def train_multiworker(project, dataset, epochs: int, run_dir: Path | None, timeout: float = 30.0,
                      on_epoch: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Train with the cluster described by TF_CONFIG; returns the per-epoch history."""
    import keras
    import tensorflow as tf

    from studio.engine import datasets as ds_mod
    from studio.engine.compiler import compile_graph, model_weights
    from studio.engine.runs import RunFolder
    from studio.engine.train import TrainingConfig

    config = TrainingConfig.from_dict(project.training)
    comm = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING, timeout_seconds=timeout)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=comm)
    except Exception as exc:
        raise ClusterError(f"could not join the cluster: {exc}") from None
    resolver = strategy.cluster_resolver
    index = resolver.task_id if resolver is not None else 0
    workers = strategy.num_replicas_in_sync
    keras.utils.set_random_seed(int(config.shuffle_seed or 0))
    pre = ds_mod.Preprocess.from_dict((project.dataset or {}).get("preprocess"))
    x, y, x_test, y_test = pre.apply(dataset)
    global_batch = int(config.batch_size) * workers
    with strategy.scope():
        model = compile_graph(project.graph, project.weights or None)
        optimizer = config.make_optimizer()
        loss_fn = keras.losses.get(config.loss)
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=int(config.shuffle_seed or 0),
                                                                reshuffle_each_iteration=True)
    data = data.batch(global_batch, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = data.with_options(options)
    dist = strategy.experimental_distribute_dataset(data)

    @tf.function
    def train_step(inputs):
        def step(xb, yb):
            with tf.GradientTape() as tape:
                pred = model(xb, training=True)
                loss = tf.nn.compute_average_loss(loss_fn(yb, pred), global_batch_size=global_batch)
            variables = model.trainable_variables
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
            return loss
        per_replica = strategy.run(step, args=inputs)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    run = RunFolder.at(run_dir) if (run_dir is not None and index == 0) else None
    history = []
    try:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            total, steps = 0.0, 0
            for batch in dist:
                total += float(train_step(batch))
                steps += 1
            logs = {"epoch": epoch, "loss": total / max(steps, 1), "seconds": time.perf_counter() - t0,
                    "workers": workers}
            history.append(logs)
            if on_epoch is not None:
                on_epoch(epoch, logs)
            if run is not None:
                (run.path / "history_epochs.json").write_text(json.dumps(history, indent=1))
    except (tf.errors.DeadlineExceededError, tf.errors.UnavailableError, tf.errors.CancelledError,
            tf.errors.InternalError, tf.errors.AbortedError) as exc:
        raise ClusterError(f"worker {index}: another worker stopped responding "
                           f"({type(exc).__name__}); training cannot go on") from None
    if run is not None:
        run.save_weights("final", model_weights(model))
        (run.path / "run.json").write_text(json.dumps({"status": "finished", "workers": workers,
                                                        "epochs": epochs, "strategy": "MultiWorkerMirroredStrategy"}))
    return history


def check_cluster_args(cluster: str | None, index: int | None) -> None:
    """Refuse --cluster / --worker-index that cannot describe this machine's place in a cluster
    (before any data loads); ClusterArgumentError is bad input, exit 2."""
    if cluster:
        hosts = [h.strip() for h in cluster.split(",") if h.strip()]
        if index is None:
            raise ClusterArgumentError("--cluster needs --worker-index")
        tf_config(hosts, index)
    elif "TF_CONFIG" not in os.environ:
        raise ClusterArgumentError("no cluster: give --cluster and --worker-index, or set TF_CONFIG")


def configure_from_args(cluster: str | None, index: int | None) -> None:
    """--cluster HOST:PORT,... --worker-index I sets TF_CONFIG (an existing TF_CONFIG is used otherwise)."""
    check_cluster_args(cluster, index)
    if cluster:
        hosts = [h.strip() for h in cluster.split(",") if h.strip()]
        os.environ["TF_CONFIG"] = tf_config(hosts, index)
