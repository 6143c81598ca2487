"""The transfer table: round trips in three formats, validation naming the row, aliases."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from taskonomy.affinity import BUILTIN_TABLES, TransferRow, TransferTable, load_table
from taskonomy.errors import InvalidInputError, NotFoundError
from taskonomy.tasks import KINDS

ANCHORS = Path(__file__).resolve().parents[4] / "shared" / "anchors" / "taskonomy-paper"


def _rows() -> list[TransferRow]:
    return [
        TransferRow("normal", ("self",), "self_full_supervision", 0.5, 0.9, 0.5),
        TransferRow("normal", ("depth_zbuffer",), "first_order", 0.3, 0.7, 0.2, 0.25, 0.35),
        TransferRow("normal", ("depth_zbuffer", "reshading"), "higher_order", 0.2, None, 0.1),
        TransferRow("normal", ("normal",), "own_encoder_small_data", None, 0.6, 0.1),
    ]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_round_trip(tmp_path: Path, fmt: str) -> None:
    table = TransferTable.from_rows(_rows())
    table.write(tmp_path / f"t.{fmt}")
    back = TransferTable.read(tmp_path / f"t.{fmt}")
    assert back == table
    assert back.rows[2].gain is None and back.rows[1].affinity_low == 0.25


@pytest.mark.parametrize("name", BUILTIN_TABLES)
def test_builtin_tables_load_and_sum_to_one(name: str) -> None:
    table = load_table(name)
    assert len(table.targets()) == 22
    for t in table.targets():
        total = sum(r.affinity or 0.0 for r in table.rows_for(t))
        assert total == pytest.approx(1.0, abs=1e-6)
    assert {r.kind for r in table} <= set(KINDS)


def test_builtin_csv_is_the_published_file_and_round_trips_exactly(tmp_path: Path) -> None:
    table = load_table("paper-16k")
    if ANCHORS.exists():
        assert TransferTable.read(ANCHORS / "transfers_16k_long.csv") == table
    buf = io.StringIO()
    table.write(buf, format="csv")
    assert TransferTable.read(io.StringIO(buf.getvalue()), format="csv") == table
    assert table.rows_for("rgb2sfnorm")[0].raw_key.endswith("__rgb2sfnorm")


def test_missing_values_are_none_not_nan() -> None:
    rows = [r for r in load_table("paper-16k").rows_for("non_fixated_pose") if r.affinity is None]
    assert len(rows) == 4 and all(r.quality is None and r.gain is not None for r in rows)


CSV_HEAD = "target,sources,n_sources,kind,raw_key,affinity_ahp,winrate_vs_pixels_gain,winrate_vs_task_quality\n"


@pytest.mark.parametrize(("line", "needle"), [
    ("normal,depth_zbuffer,1,sideways,,0.1,0.5,0.5", "row 1 (depth_zbuffer__normal): unknown kind 'sideways'"),
    ("normal,depth_zbuffer,1,first_order,,nan,0.5,0.5", "row 1 (depth_zbuffer__normal): affinity is NaN"),
    ("normal,depth_zbuffer,1,first_order,,0.1,1.5,0.5", "gain = 1.5 is outside [0, 1]"),
    ("normal,depth_zbuffer,1,first_order,,0.1,0.5,-0.1", "quality = -0.1 is outside [0, 1]"),
    ("normal,depth_zbuffer,2,first_order,,0.1,0.5,0.5", "n_sources = 2 but 1 sources"),
    ("normal,depth_zbuffer,1,first_order,x__normal,0.1,0.5,0.5", "raw_key 'x__normal' does not match"),
    ("normal,depth_zbuffer,1,first_order,,abc,0.5,0.5", "affinity_ahp is not a number"),
    ("normal,self,1,first_order,,0.1,0.5,0.5", "'self' and 'pixels' are baselines"),
])
def test_bad_rows_name_the_row(line: str, needle: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        TransferTable.read(io.StringIO(CSV_HEAD + line + "\n"), format="csv")
    assert needle in str(err.value)


def test_duplicate_key_names_both_rows() -> None:
    rows = [*_rows(), TransferRow("normal", ("reshading", "depth_zbuffer"), "higher_order", 0.1, 0.1, 0.1)]
    with pytest.raises(InvalidInputError, match=r"row 5 .*duplicate key.*row 3"):
        TransferTable.from_rows(rows)


def test_nan_in_rows_and_bad_formats() -> None:
    with pytest.raises(InvalidInputError, match="affinity is NaN"):
        TransferTable.from_rows([replace(_rows()[1], affinity=float("nan"))])
    with pytest.raises(InvalidInputError, match="format"):
        TransferTable.read(io.StringIO(""), format="xlsx")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="suffix"):
        TransferTable.read("table.txt")
    with pytest.raises(InvalidInputError, match="outside"):
        TransferTable.from_rows([replace(_rows()[1], affinity=0.5)])  # outside its interval
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        TransferTable.read(io.StringIO("{"), format="json")


def test_unknown_table_lists_builtins(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="paper-16k, paper-1k, paper-base"):
        load_table("paper-99k")
    with pytest.raises(OSError):
        TransferTable.read(tmp_path / "absent.csv")


def test_alias_mapping_both_ways() -> None:
    table = load_table("paper-1k")
    ours = table.to_our_names()
    assert "normal" in ours.targets() and "rgb2sfnorm" not in ours.targets()
    assert "class_selected" in ours.tasks()  # unknown to the registry: kept as is
    assert ours.to_paper_names() == table


def test_json_list_form_parquet_garbage_and_missing_columns(tmp_path: Path) -> None:
    rows = TransferTable.from_rows(_rows()).to_records()
    path = tmp_path / "rows.json"
    import json

    path.write_text(json.dumps(rows))
    assert TransferTable.read(path) == TransferTable.from_rows(_rows())
    assert load_table(str(path)) == TransferTable.from_rows(_rows())
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInputError, match="not a readable Parquet file"):
        TransferTable.read(bad)
    with pytest.raises(InvalidInputError, match="missing column"):
        TransferTable.read(io.StringIO("target,kind\nnormal,first_order\n"), format="csv")
    with pytest.raises(InvalidInputError, match="no rows"):
        TransferTable.from_rows([])


def test_resolve_task_name() -> None:
    from taskonomy.affinity import resolve_task_name

    known = load_table("paper-16k").tasks()
    assert resolve_task_name("normal", known) == "rgb2sfnorm"
    assert resolve_task_name("rgb2sfnorm", known) == "rgb2sfnorm"
    assert resolve_task_name("class_selected", known) == "class_selected"
    with pytest.raises(InvalidInputError, match=r"targets: unknown task 'normals' \(did you mean"):
        resolve_task_name("normals", [*known, "normals_x"], field="targets")
