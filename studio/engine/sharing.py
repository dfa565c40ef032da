"""Shared layers: one layer (or block) used at several places, with one set of weights.

The first use is an ordinary node (the owner). Every further use is a node of
the same class whose whole config is ``{"shares": <owner's node id>}``: it has
inputs and outputs of its own but no settings and no weights of its own, so
editing the owner edits every use, and the model counts the weights once, as
Keras does for a layer called twice (a siamese encoder). A use can be turned
into an independent copy at any time.

Qt-free.
"""

from __future__ import annotations

import copy
from typing import Any

SHARES = "shares"


def owner_id(node) -> str | None:
    """The id of the node whose layer this node uses again, or None for an ordinary node."""
    value = node.config.get(SHARES) if isinstance(node.config, dict) else None
    return value if isinstance(value, str) else None


def problem(graph, node) -> str | None:
    """Why a use cannot share (its owner is gone, of another kind, or itself a use), or None."""
    target = owner_id(node)
    if target is None:
        return None
    if set(node.config) != {SHARES}:
        return f"'{node.name}' shares another layer's weights, so it takes no settings of its own"
    owner = graph.nodes.get(target)
    if owner is None:
        return f"'{node.name}' used the weights of a layer that is no longer in the model; make it its own layer"
    if owner.class_name != node.class_name:
        return f"'{node.name}' is a {node.class_name} but shares the weights of '{owner.name}', a {owner.class_name}"
    if owner_id(owner) is not None or owner.id == node.id:
        return f"'{node.name}' shares the weights of '{owner.name}', which itself uses another layer's"
    return None


def effective_config(graph, node) -> dict[str, Any]:
    """The settings the node computes with: its owner's for a use."""
    target = owner_id(node)
    return graph.nodes[target].config if target is not None and target in graph.nodes else node.config


def uses_index(graph) -> dict[str, list[str]]:
    """{owner id: [use ids]} for the owners that have uses."""
    out: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        target = owner_id(node)
        if target is not None:
            out.setdefault(target, []).append(node.id)
    return out


def add_use(graph, node_id: str, position: tuple[float, float] | None = None) -> str:
    """Use a layer again (same weights): a new node that shares it; returns its id."""
    from studio.engine.graph import GraphError

    node = graph.node(node_id)
    target = owner_id(node) or node.id
    owner = graph.nodes[target]
    if owner.spec.is_input:
        raise GraphError("an Input cannot be used twice; add another Input")
    if owner.spec.is_op:
        raise GraphError(f"'{owner.name}' is an operation: it has no weights to share; add another one")
    x, y = position if position is not None else (node.position[0] + 260, node.position[1])
    use = graph.add_node(owner.class_name, {SHARES: target}, name=graph.unique_name(f"{owner.name}_shared"),
                         position=(x, y))
    return use.id


def make_independent(graph, node_id: str) -> None:
    """Give a use its own copy of its owner's settings (and, from then on, its own weights)."""
    node = graph.node(node_id)
    target = owner_id(node)
    if target is None:
        return
    owner = graph.nodes.get(target)
    if owner is None:
        from studio.engine.graph import GraphError
        raise GraphError(f"the layer '{node.name}' shared is gone; nothing to copy")
    graph.set_config(node_id, copy.deepcopy(owner.config))
