"""The task-similarity tree and the adjusted Rand index: known answers, and the paper's own tables."""

from __future__ import annotations

import numpy as np
import pytest

from taskonomy.affinity import TransferRow, TransferTable, adjusted_rand_index, load_table, task_similarity_tree
from taskonomy.errors import InvalidInputError
from taskonomy.tasks import get_task, registry


def test_adjusted_rand_index_known_answers() -> None:
    # contingency [[2, 1, 0], [0, 1, 2]]: index 2, expected 6 * 3 / 15 = 1.2, maximum 4.5 -> 0.8 / 3.3
    assert adjusted_rand_index([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(0.8 / 3.3)
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(4 / 7)  # scikit-learn's doc example
    assert adjusted_rand_index(["a", "a", "b", "b"], [5, 5, 9, 9]) == 1.0  # the same partition, other labels
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)  # worse than chance
    assert adjusted_rand_index([1, 1, 1], [2, 2, 2]) == 1.0  # trivial partitions agree


def test_adjusted_rand_index_is_about_zero_for_unrelated_partitions() -> None:
    rng = np.random.default_rng(0)
    values = [adjusted_rand_index(rng.integers(0, 4, 60).tolist(), rng.integers(0, 4, 60).tolist())
              for _ in range(200)]
    assert abs(float(np.mean(values))) < 0.01


def test_adjusted_rand_index_refuses_mismatched_labels() -> None:
    with pytest.raises(InvalidInputError, match="3 labels against 2"):
        adjusted_rand_index([0, 1, 1], [0, 1])


def _families_tree(name: str) -> tuple[list[str], list[int], list[str]]:
    table = load_table(name).to_our_names()
    known = {t.name for t in registry()}
    tasks = [s for s in dict.fromkeys(r.sources[0] for r in table if r.kind == "first_order")
             if s in known and get_task(s).family]
    tree = task_similarity_tree(table, tasks)
    return tree.tasks, tree.clusters(4), [get_task(s).family for s in tree.tasks]


@pytest.mark.parametrize(("name", "ari"), [("paper-16k", 0.6857), ("paper-1k", 0.6592)])
def test_the_papers_own_tables_cluster_into_their_families(name: str, ari: float) -> None:
    """The reference figure: the paper's tables, 25 tasks in 4 clusters, against the 4 families."""
    tasks, clusters, families = _families_tree(name)
    assert len(tasks) == 25  # 22 targets and colorization, inpainting, jigsaw (class_selected has no family)
    assert adjusted_rand_index(clusters, families) == pytest.approx(ari, abs=1e-4)
    by = dict(zip(tasks, clusters, strict=True))
    assert len({by[t] for t in ("depth_zbuffer", "depth_euclidean", "normal", "reshading", "keypoints3d")}) == 1
    assert len({by[t] for t in ("autoencoding", "denoising", "colorization", "inpainting")}) == 1
    assert len({by[t] for t in ("egomotion", "fixated_pose", "nonfixated_pose")}) == 1
    assert by["class_object"] == by["class_scene"] != by["normal"]


def _row(t: str, s: str, a: float) -> TransferRow:
    return TransferRow(target=t, sources=(s,), kind="first_order", affinity=a, gain=0.5, quality=0.5)


def test_tree_groups_sources_by_pattern_not_strength() -> None:
    """a and b transfer well to the same targets (b at a tenth of a's strength), c and d to others."""
    rows = []
    for t, good in (("t1", "ab"), ("t2", "ab"), ("t3", "cd"), ("t4", "cd"), ("t5", "ab")):
        for s, scale in (("a", 1.0), ("b", 0.1), ("c", 1.0), ("d", 0.1)):
            rows.append(_row(t, s, scale * (0.5 if s in good else 0.01)))
    tree = task_similarity_tree(TransferTable.from_rows(rows), ["a", "b", "c", "d"])
    assert tree.clusters(2) == [1, 1, 2, 2] or tree.clusters(2) == [2, 2, 1, 1]
    assert tree.distances[0, 1] == pytest.approx(0.0, abs=1e-9) and tree.distances[0, 2] > 1.5
    assert tree.linkage.shape == (3, 4)


def test_tree_needs_two_tasks() -> None:
    with pytest.raises(InvalidInputError, match="at least 2 tasks"):
        task_similarity_tree(TransferTable.from_rows([_row("t1", "a", 0.5)]), ["a"])
