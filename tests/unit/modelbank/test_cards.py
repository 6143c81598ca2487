"""Model cards: one per trained network, complete, and matching the artifacts they describe."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from taskonomy.affinity import TransferTable
from taskonomy.contract import build_graph
from taskonomy.errors import InvalidInputError, NotFoundError
from taskonomy.modelbank import (
    CARD_FIELDS,
    CARD_FORMAT,
    card_key,
    index_key,
    list_models,
    model_entries,
    open_experiment,
    read_card,
    transfer_weights_key,
    weights_header,
)

pytestmark = pytest.mark.slow


def test_every_trained_network_has_a_complete_card(tiny_run: Path) -> None:
    exp = open_experiment(str(tiny_run))
    cards = list_models(exp)
    graph = build_graph(exp.spec)
    nets = {j.outputs[0] for j in graph.jobs.values() if j.kind == "train"}
    transfers = {transfer_weights_key(j.outputs[0]) for j in graph.jobs.values() if j.kind == "transfer"}
    assert {c["weights"] for c in cards} == nets | transfers
    for card in cards:
        assert set(CARD_FIELDS) <= set(card), card["key"]
        assert card["format"] == CARD_FORMAT and card["key"] == card_key(card["weights"])
        assert card["experiment"] == exp.id == exp.spec.content_key()
        if card["experiment_role"] == "source_only":  # never evaluated, never a candidate of a target
            assert card["role"] == "task_specific" and card["test"] is None and card["transfer"] is None
        else:
            assert card["test"] is not None and card["test"]["n_images"] == exp.spec.splits.test
            assert card["transfer"] is not None, "a target's own network and every transfer are candidates"
            for k in ("affinity", "gain", "quality"):
                assert 0.0 <= card["transfer"][k] <= 1.0
        assert card["data"]["dataset"] == exp.spec.dataset.model_dump(mode="json")
        assert card["architecture"]["model"] == exp.spec.model.to_dict()
        assert card["architecture"]["image_size"] == exp.spec.dataset.size
        trained = exp.spec.transfer if card["role"] == "transfer" else exp.spec.train
        assert card["training"]["epochs"] == trained.epochs and card["training"]["metrics"]["steps"] > 0


def test_cards_match_the_weights_and_the_tables(tiny_run: Path) -> None:
    exp = open_experiment(str(tiny_run))
    cards = list_models(exp)
    table = TransferTable.read(tiny_run / "transfers.csv")
    for card in cards:
        blob = exp.store.get_bytes(card["weights"])
        assert hashlib.sha256(blob).hexdigest() == card["sha256"] and len(blob) == card["bytes"]
        header = weights_header(blob)
        assert header["task"] == card["task"]
        assert header["kind"] == ("transfer" if card["role"] == "transfer" else "task")
        assert header["n_sources"] == len(card["sources"])
        assert read_card(exp.store, card["weights"]) == card == read_card(exp.store, card["key"])
        # affinity, gain and quality on the card are the experiment's transfer table's
        rank = card["transfer"]
        if rank is None:
            continue
        row = next(r for r in table.rows_for(card["task"]) if list(r.sources) == rank["sources"])
        assert (row.affinity, row.gain, row.quality) == pytest.approx((rank["affinity"], rank["gain"],
                                                                        rank["quality"]))
    roles = sorted({c["role"] for c in cards})
    assert roles == ["task_specific", "transfer"]
    index = exp.store.get_json(index_key(exp.id))
    assert index["models"] == [c["key"] for c in cards]


def test_listing_twice_reuses_the_stored_cards(tiny_run: Path) -> None:
    exp = open_experiment(str(tiny_run))
    first = list_models(exp)
    before = {c["key"]: exp.store.meta(c["key"]) for c in first}
    assert list_models(exp) == first
    assert {c["key"]: exp.store.meta(c["key"]) for c in first} == before
    entries, _ = model_entries(exp.spec, exp.store)
    assert len(entries) == len(first)


def test_experiment_by_id_with_store_and_bad_references(tiny_run: Path, tmp_path: Path) -> None:
    manifest = json.loads((tiny_run / "experiment.json").read_text())
    exp = open_experiment(manifest["id"], store=manifest["store"])
    assert exp.id == manifest["id"] and exp.spec.name == "modelbank-tiny"
    with pytest.raises(NotFoundError, match="--store"):
        open_experiment(str(tmp_path / "nowhere"))
    with pytest.raises(NotFoundError, match="no experiment"):
        open_experiment("0123456789", store=manifest["store"])
    (tmp_path / "experiment.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not an experiment record"):
        open_experiment(str(tmp_path))
    with pytest.raises(NotFoundError):
        read_card(exp.store, "nets/nothing-here")
