"""Pictures of a run: a top-down map and the layered scene graph (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from memory_nodes.core.spatial.types import GraphLayer, ObjectStatus


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def top_down_map(path: Path, scenario, trajectory: np.ndarray, truth: dict[str, np.ndarray], memory_objects,
                 title: str) -> Path:
    """Walls, furniture, rooms, the camera's path, ground-truth objects (x) and remembered objects
    (dots: green present, grey absent, with labels), in ``map`` metres."""
    figure, axes = plt.subplots(figsize=(11, 5.5))
    for name, polygon in scenario.rooms:
        xs, ys = zip(*polygon)
        axes.fill(xs, ys, alpha=0.06)
        axes.text(np.mean(xs), max(ys) - 0.25, name, ha="center", fontsize=11, weight="bold", alpha=0.6)
    for x0, y0, x1, y1 in scenario.walls:
        axes.plot([x0, x1], [y0, y1], color="black", linewidth=2)
    for name, item in scenario.furniture.items():
        (x, y), (sx, sy, _) = item["position"], item["size"]
        axes.add_patch(plt.Rectangle((x - sx / 2, y - sy / 2), sx, sy, color=item.get("colour", (0.5, 0.4, 0.3)),
                                     alpha=0.35))
        axes.text(x, y - sy / 2 - 0.12, name.replace("_", " "), ha="center", fontsize=7, alpha=0.7)
    if len(trajectory):
        axes.plot(trajectory[:, 0], trajectory[:, 1], "--", color="tab:blue", alpha=0.5, label="camera path")
        axes.scatter(trajectory[:, 0], trajectory[:, 1], s=8, color="tab:blue", alpha=0.5)
    for position in truth.values():
        axes.scatter(position[0], position[1], marker="x", color="black", s=40)
    for obj in memory_objects:
        present = obj.status == ObjectStatus.PRESENT
        x, y = obj.position[0], obj.position[1]
        axes.scatter(x, y, s=60, color="tab:green" if present else "lightgrey", edgecolors="black", zorder=3)
        axes.annotate(f"{obj.label}\n{obj.id}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=7,
                      color="black" if present else "grey")
    axes.scatter([], [], marker="x", color="black", label="ground truth")
    axes.scatter([], [], s=60, color="tab:green", edgecolors="black", label="remembered (present)")
    axes.scatter([], [], s=60, color="lightgrey", edgecolors="black", label="remembered (absent)")
    axes.set_aspect("equal")
    axes.set_xlabel("x (m, map)")
    axes.set_ylabel("y (m, map)")
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize=8)
    return _save(figure, path)


def scene_graph(path: Path, graph_msg, title: str) -> Path:
    """The layers of a scene graph (``MemoryClient.get_scene_graph``): rooms on top, places,
    objects below; part_of, at and the geometric relations (on, in) as edges."""
    graph = nx.DiGraph()
    layer_of = {}
    for place in graph_msg.places:
        graph.add_node(place.id)
        layer_of[place.id] = 2 if place.layer == GraphLayer.ROOM else 1
    for obj in graph_msg.objects:
        graph.add_node(obj.id, label=obj.label)
        layer_of[obj.id] = 0
    kinds = {}
    for subject, predicate, obj, _ in graph_msg.relations:
        if predicate in ("part_of", "at", "on", "in") and subject in layer_of and obj in layer_of:
            graph.add_edge(subject, obj)
            kinds[(subject, obj)] = predicate
    positions = {}
    for layer in (0, 1, 2):
        members = sorted((n for n in graph.nodes if layer_of[n] == layer),
                         key=lambda n: next((p.position[0] for p in graph_msg.places if p.id == n), 0.0)
                         if layer else next((o.position[0] for o in graph_msg.objects if o.id == n), 0.0))
        for i, node in enumerate(members):
            positions[node] = ((i + 0.5) / max(len(members), 1), layer)
    figure, axes = plt.subplots(figsize=(12, 5))
    colours = {"part_of": "tab:orange", "at": "tab:blue", "on": "tab:green", "in": "tab:purple"}
    for kind, colour in colours.items():
        edges = [e for e in graph.edges if kinds.get(e) == kind]
        nx.draw_networkx_edges(graph, positions, edgelist=edges, edge_color=colour, ax=axes, arrows=True,
                               connectionstyle="arc3,rad=0.15" if kind in ("on", "in") else "arc3")
    node_colours = ["tab:orange" if layer_of[n] == 2 else "tab:blue" if layer_of[n] == 1 else "tab:green"
                    for n in graph.nodes]
    nx.draw_networkx_nodes(graph, positions, node_color=node_colours, node_size=260, ax=axes)
    labels = {n: (graph.nodes[n].get("label", n) if layer_of[n] == 0 else n) for n in graph.nodes}
    nx.draw_networkx_labels(graph, positions, labels=labels, font_size=7, ax=axes)
    for kind, colour in colours.items():
        axes.plot([], [], color=colour, label=kind)
    axes.set_yticks([0, 1, 2], ["objects", "places", "rooms"])
    axes.tick_params(left=True, labelleft=True)
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize=8)
    return _save(figure, path)
