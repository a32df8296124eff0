"""Rank gaps that keep module clusters stacked instead of staircased.

dot cannot let two clusters share a rank, so a cluster whose leaves (a weight and its `permute`, a
ReLU's scalar zero) rank above the op that enters it overlaps the cluster before it and is pushed
sideways; fifty layers become a staircase. Lengthening each edge that enters a cluster by the height
of the leaf-only chains feeding the same op leaves room for them below the previous cluster.
"""

from __future__ import annotations

from collections import defaultdict

from graphc.render.layout import Cluster


def cluster_of(root: Cluster) -> dict[str, int]:
    """Vertex id -> an id of the innermost cluster holding it."""
    owner: dict[str, int] = {}
    stack = [root]
    while stack:
        cluster = stack.pop()
        owner.update((vid, id(cluster)) for vid, _ in cluster.vertices)
        stack.extend(cluster.children.values())
    return owner


def entry_gaps(root: Cluster, edges) -> dict[tuple[str, str], int]:
    """minlen for the edges (tail, head) that enter another cluster, where more than 1 is needed."""
    owner = cluster_of(root)
    preds: dict[str, list[str]] = defaultdict(list)
    for tail, head in edges:
        preds[head].append(tail)
    height: dict[str, int | None] = {}

    def leaf_height(vid: str) -> int | None:
        """Length of the longest chain above `vid` inside its cluster that starts at leaves only;
        None when something outside the cluster feeds it."""
        if vid not in height:
            height[vid] = None  # guards against cycles (there are none in a DAG picture)
            if any(owner.get(p) != owner.get(vid) for p in preds[vid]):
                return None
            heights = [leaf_height(p) for p in preds[vid]]
            height[vid] = None if None in heights else 1 + max(heights, default=0)
        return height[vid]

    gaps = {}
    for tail, head in edges:
        if owner.get(tail) == owner.get(head):
            continue
        free = [h for p in preds[head] if owner.get(p) == owner.get(head)
                if (h := leaf_height(p)) is not None]
        if free:
            gaps[(tail, head)] = 1 + max(free)
    return gaps
