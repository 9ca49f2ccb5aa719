"""Tests of gaplens.store: the run database."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gaplens.core.errors import InputError, StoreError
from gaplens.core.files import atomic_write
from gaplens.store import RunStore, records


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore(tmp_path / "run") as s:
        yield s


def test_creates_run_folder_layout(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs" / "a") as s:
        assert s.run_dir == (tmp_path / "runs" / "a").absolute()
        assert s.figures_dir.is_dir() and s.maps_dir.is_dir()
        assert (s.run_dir / "run.db").is_file()
        assert s.studies() == [] and s.records() == [] and s.artifacts() == []


def test_round_trip_keeps_types_nan_inf_none_bool(store: RunStore) -> None:
    rec = {
        "model": "a",
        "n": 3,
        "big": 2**60,
        "value": 0.25,
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": float("-inf"),
        "missing": None,
        "flag": True,
        "off": False,
        "np_float": np.float32(1.5),
        "np_int": np.int64(7),
        "np_bool": np.bool_(True),
        "torch_scalar": torch.tensor(2.5),
        "text": "ünïcode <&>",
    }
    with store.unit("evaluate", "model=a") as u:
        u.add(rec)
    (got,) = store.records()
    assert list(got) == ["study", "unit", *rec]
    assert got["study"] == "evaluate" and got["unit"] == "model=a"
    assert math.isnan(got["nan"])
    assert got["inf"] == math.inf and got["ninf"] == -math.inf
    assert got["missing"] is None
    assert got["flag"] is True and got["off"] is False and got["np_bool"] is True
    assert type(got["n"]) is int and got["big"] == 2**60
    assert type(got["np_int"]) is int and got["np_int"] == 7
    assert type(got["np_float"]) is float and got["np_float"] == 1.5
    assert got["torch_scalar"] == 2.5
    assert got["text"] == "ünïcode <&>"


@pytest.mark.parametrize(
    "value", [{"a": 1}, [1, 2], (1,), np.zeros(3), torch.zeros(2), b"raw", 1j, object()]
)
def test_non_flat_value_rejected_naming_key(store: RunStore, value: object) -> None:
    with pytest.raises(InputError, match="'bad_key'"):
        with store.unit("s", "u") as u:
            u.add({"ok": 1, "bad_key": value})
    assert not store.is_done("s", "u")
    assert store.records() == []


@pytest.mark.parametrize("record", [{"study": "x"}, {"unit": 3}, {1: 2}, ["not", "a", "dict"]])
def test_reserved_or_malformed_record_rejected(store: RunStore, record: object) -> None:
    with pytest.raises(InputError):
        with store.unit("s", "u") as u:
            u.add(record)  # type: ignore[arg-type]


def test_raising_unit_writes_nothing_and_is_not_done(store: RunStore) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with store.unit("s", "u") as u:
            u.add({"x": 1})
            u.artifact("figure", "figures/f.png", "f")
            raise RuntimeError("boom")
    assert not store.is_done("s", "u")
    assert store.records() == [] and store.artifacts() == [] and store.studies() == []
    with pytest.raises(StoreError, match="closed"):
        u.add({"x": 2})


def test_is_done_after_commit_and_empty_unit_counts(store: RunStore) -> None:
    assert not store.is_done("s", "u")
    with store.unit("s", "u"):
        pass
    assert store.is_done("s", "u")
    assert not store.is_done("s", "other") and not store.is_done("t", "u")


def test_recommit_replaces_unit_and_keeps_its_place(store: RunStore) -> None:
    with store.unit("s", "u1") as u:
        u.add_many([{"v": 1}, {"v": 2}])
        u.artifact("figure", "figures/a.png", "old")
    with store.unit("s", "u2") as u:
        u.add({"v": 3})
    with store.unit("s", "u1") as u:
        u.add({"v": 10})
        u.artifact("figure", store.figures_dir / "b.png", "new")
    assert [r["v"] for r in store.records()] == [10, 3]
    assert [(a["path"], a["title"]) for a in store.artifacts()] == [("figures/b.png", "new")]


def _work(i: int) -> list[dict]:
    return [{"i": i, "k": k, "value": i * 10 + k + 0.5} for k in range(3)]


def _sweep(store: RunStore, n: int, crash_at: int | None = None) -> list[int]:
    """The resume pattern: skip committed units; return the units computed this time."""
    computed = []
    for i in range(n):
        key = f"i={i}"
        if store.is_done("sweep", key):
            continue
        with store.unit("sweep", key) as u:
            for rec in _work(i):
                if i == crash_at and rec["k"] == 1:
                    raise RuntimeError("simulated crash")
                u.add(rec)
        computed.append(i)
    return computed


def test_resume_after_crash_equals_clean_run(tmp_path: Path) -> None:
    with RunStore(tmp_path / "clean") as s:
        assert _sweep(s, 6) == list(range(6))
        clean = s.records()
    with RunStore(tmp_path / "crashed") as s:
        with pytest.raises(RuntimeError, match="simulated crash"):
            _sweep(s, 6, crash_at=3)
        assert [r["i"] for r in s.records()] == [0] * 3 + [1] * 3 + [2] * 3
    with RunStore(tmp_path / "crashed") as s:  # a new process re-runs the command
        assert _sweep(s, 6) == [3, 4, 5]
        assert s.records() == clean


def test_records_dataframe(tmp_path: Path) -> None:
    with RunStore(tmp_path / "r") as s:
        assert s.studies() == []
    empty = records(tmp_path / "r")
    assert isinstance(empty, pd.DataFrame) and list(empty.columns) == ["study", "unit"]
    assert len(empty) == 0
    with RunStore(tmp_path / "r") as s:
        with s.unit("b", "u") as u:
            u.add({"model": "m", "acc": 0.5})
        with s.unit("a", "u") as u:
            u.add({"model": "m", "level": 2, "acc": float("nan")})
    df = records(str(tmp_path / "r"))
    assert list(df.columns) == ["study", "unit", "model", "acc", "level"]
    assert df["study"].tolist() == ["b", "a"]
    assert pd.isna(df.loc[0, "level"]) and df.loc[1, "level"] == 2
    assert math.isnan(df.loc[1, "acc"])


def test_records_without_db_raises(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="run.db"):
        records(tmp_path)
    with pytest.raises(StoreError):
        RunStore(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_studies_in_first_commit_order_and_filters(store: RunStore) -> None:
    for study, unit in [("zeta", "1"), ("alpha", "1"), ("zeta", "2"), ("mid", "1")]:
        with store.unit(study, unit) as u:
            u.add({"x": unit})
            u.artifact("figure", f"figures/{study}{unit}.png", study)
    assert store.studies() == ["zeta", "alpha", "mid"]
    assert [r["unit"] for r in store.records("zeta")] == ["1", "2"]
    assert [a["path"] for a in store.artifacts("alpha")] == ["figures/alpha1.png"]
    assert set(store.artifacts()[0]) == {"study", "unit", "kind", "path", "title"}


def test_artifact_path_outside_run_rejected(store: RunStore, tmp_path: Path) -> None:
    for bad in [tmp_path / "elsewhere.png", "../escape.png", ""]:
        with pytest.raises(InputError):
            with store.unit("s", "u") as u:
                u.artifact("figure", bad, "t")


def test_corrupt_db_raises_store_error_naming_path(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.db").write_bytes(b"definitely not sqlite \x00\xff" * 64)
    with pytest.raises(StoreError, match=r"run\.db") as info:
        RunStore(run)
    assert str(run) in str(info.value)


def test_foreign_sqlite_db_rejected(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with sqlite3.connect(run / "run.db") as conn:
        conn.execute("CREATE TABLE other (x)")
    conn.close()
    with pytest.raises(StoreError, match="not a gaplens run database"):
        RunStore(run)


def test_newer_schema_rejected(tmp_path: Path) -> None:
    RunStore(tmp_path / "run").close()
    conn = sqlite3.connect(tmp_path / "run" / "run.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        RunStore(tmp_path / "run")


def test_run_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a folder"):
        RunStore(tmp_path / "file")


def test_reopen_persists_runs_and_records(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run") as s:
        rid = s.start_run("evaluate", {"models": ["a", "b"], "path": tmp_path, "lr": 0.1})
        with s.unit("evaluate", "model=a") as u:
            u.add({"acc": 0.9})
        s.finish_run(rid)
        rid2 = s.start_run("evaluate", {})
    with RunStore(tmp_path / "run", create=False) as s:
        assert s.is_done("evaluate", "model=a")
        assert s.records() == [{"study": "evaluate", "unit": "model=a", "acc": 0.9}]
        runs = s.runs()
        assert [r["id"] for r in runs] == [rid, rid2]
        assert runs[0]["command"] == "evaluate" and runs[0]["status"] == "ok"
        assert runs[0]["params"] == {"models": ["a", "b"], "path": str(tmp_path), "lr": 0.1}
        assert runs[0]["finished"] is not None
        assert runs[1]["status"] == "running" and runs[1]["finished"] is None
        with pytest.raises(InputError):
            s.finish_run(12345)
    with pytest.raises(StoreError, match="closed"):
        s.records()


def test_two_stores_on_one_db_interleave(tmp_path: Path) -> None:
    a = RunStore(tmp_path / "run")
    b = RunStore(tmp_path / "run")
    try:
        with a.unit("s", "a1") as ua:
            ua.add({"x": 1})
            with b.unit("s", "b1") as ub:
                ub.add({"x": 2})
        assert b.is_done("s", "a1") and a.is_done("s", "b1")
        assert sorted(r["x"] for r in a.records()) == [1, 2]
    finally:
        a.close()
        b.close()
    with RunStore(tmp_path / "run") as c:
        assert len(c.records()) == 2


def test_atomic_write_bytes_leaves_no_temp_files(store: RunStore) -> None:
    path = store.atomic_write_bytes("figures/sub/x.bin", b"one")
    assert path == store.run_dir / "figures" / "sub" / "x.bin"
    store.atomic_write_bytes(Path("figures/sub/x.bin"), b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["x.bin"]
    assert not [p for p in store.run_dir.rglob("*") if p.name.endswith(".tmp")]
    for bad in ["/abs/x", "../x", "a/../../x", "."]:
        with pytest.raises(InputError):
            store.atomic_write_bytes(bad, b"x")


def test_atomic_write_failure_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write(target, b"old")
    with pytest.raises(InputError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_fingerprints_scopes_and_deleting_units(store: RunStore) -> None:
    with store.unit("s", "a", fingerprint="f1", scope="m") as u:
        u.add({"x": 1})
    with store.unit("s", "b", fingerprint="f2", scope="n") as u:
        u.add({"x": 2})
    assert store.fingerprint("s", "a") == "f1" and store.fingerprint("s", "missing") is None
    assert store.is_done("s", "a", "f1") and not store.is_done("s", "a", "other") and store.is_done("s", "a")
    assert store.units("s") == ["a", "b"] and store.units("s", "m") == ["a"]
    assert store.delete_units("s", ["a"]) == 1
    assert [r["x"] for r in store.records("s")] == [2] and store.units("s") == ["b"]


def test_version_1_database_is_migrated_and_its_units_count_as_stale(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "run.db")
    conn.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('format', 'gaplens-run'), ('schema_version', '1');
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, params TEXT NOT NULL,
                           started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL);
        CREATE TABLE units (id INTEGER PRIMARY KEY AUTOINCREMENT, study TEXT NOT NULL, unit TEXT NOT NULL,
                            committed TEXT NOT NULL, run_id INTEGER, UNIQUE (study, unit));
        CREATE TABLE records (id INTEGER PRIMARY KEY, study TEXT NOT NULL, unit TEXT NOT NULL, seq INTEGER NOT NULL,
                              data TEXT NOT NULL);
        CREATE TABLE artifacts (id INTEGER PRIMARY KEY, study TEXT NOT NULL, unit TEXT NOT NULL,
                                seq INTEGER NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL, title TEXT NOT NULL);
        INSERT INTO units (study, unit, committed) VALUES ('s', 'old', '2026-01-01');
        INSERT INTO records (study, unit, seq, data) VALUES ('s', 'old', 0, '{"x": 1}');
        PRAGMA user_version = 1;
    """)
    conn.close()
    with RunStore(tmp_path) as store:
        assert [r["x"] for r in store.records("s")] == [1]
        assert store.is_done("s", "old") and not store.is_done("s", "old", "any fingerprint")
    with RunStore(tmp_path) as store:  # opening again finds version 2
        assert store._read("PRAGMA user_version")[0][0] == 2
