"""The run database: one SQLite file per run folder, written one finished unit of work at a time.

A run folder ``runs/NAME/`` holds::

    run.db        SQLite: runs, units, records (tidy rows), artifacts (paths)
    figures/      PNG figures
    maps/         attribution maps, visualizations, restored images (.npy/.png)
    report.html   the self-contained report rendered from run.db

Work is split into *units* named by a study (``"evaluate"``) and a unit key
(``"model=a/set=test"``). A unit's records and artifacts are buffered in memory and written in
a single transaction, together with the row that marks the unit done, when its ``with`` block
exits normally. If the block raises, nothing is written. An interrupted sweep therefore never
leaves half a unit behind, and re-running it skips the units already done::

    >>> store = RunStore("runs/demo")                                   # doctest: +SKIP
    >>> for model in ["a", "b"]:                                        # doctest: +SKIP
    ...     key = f"model={model}"
    ...     if store.is_done("evaluate", key):
    ...         continue
    ...     with store.unit("evaluate", key) as u:
    ...         u.add({"model": model, "metric": "accuracy", "value": 0.93})

Committing a unit that is already done *replaces* it: its old records and artifacts are
deleted in the same transaction that writes the new ones, so a unit is never counted twice.

Records are flat dicts whose values are ``str``, ``int``, ``float``, ``bool`` or ``None``
(numpy and 0-d torch scalars are converted with ``.item()``). They are stored as JSON text;
``NaN`` and ``±inf`` survive the round trip. The keys ``"study"`` and ``"unit"`` are reserved:
:meth:`RunStore.records` adds them to every record it returns.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from gaplens.core.errors import InputError, StoreError
from gaplens.core.files import atomic_write

if TYPE_CHECKING:
    import pandas

__all__ = ["RunStore", "UnitWriter", "records", "SCHEMA_VERSION", "DB_NAME"]

#: File name of the database inside a run folder.
DB_NAME = "run.db"
#: Version of the database layout; stored in ``PRAGMA user_version`` and the ``meta`` table.
SCHEMA_VERSION = 2
_FORMAT = "gaplens-run"
#: Seconds a connection waits for another writer's lock before giving up.
_BUSY_TIMEOUT_S = 30.0
_RESERVED_KEYS = frozenset({"study", "unit"})

_SCHEMA = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE runs (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    command  TEXT NOT NULL,
    params   TEXT NOT NULL,
    started  TEXT NOT NULL,
    finished TEXT,
    status   TEXT NOT NULL
);
CREATE TABLE units (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    study     TEXT NOT NULL,
    unit      TEXT NOT NULL,
    committed TEXT NOT NULL,
    run_id    INTEGER,
    fingerprint TEXT,
    scope     TEXT,
    UNIQUE (study, unit)
);
CREATE TABLE records (
    id    INTEGER PRIMARY KEY,
    study TEXT NOT NULL,
    unit  TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    data  TEXT NOT NULL
);
CREATE INDEX records_by_unit ON records (study, unit, seq);
CREATE TABLE artifacts (
    id    INTEGER PRIMARY KEY,
    study TEXT NOT NULL,
    unit  TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    kind  TEXT NOT NULL,
    path  TEXT NOT NULL,
    title TEXT NOT NULL
);
CREATE INDEX artifacts_by_unit ON artifacts (study, unit, seq);
"""


def _now() -> str:
    """The current UTC time as ISO 8601 with seconds, e.g. ``2024-05-01T12:00:00+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _flat_value(key: str, value: Any) -> str | int | float | bool | None:
    """Return ``value`` as a JSON-able scalar, or raise :class:`InputError` naming ``key``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if not isinstance(value, (Mapping, list, tuple, set, frozenset, bytes, bytearray)):
        # numpy scalars, 0-d numpy arrays and 0-d torch tensors.
        item = getattr(value, "item", None)
        if callable(item) and getattr(value, "ndim", 0) == 0:
            try:
                scalar = item()
            except (TypeError, ValueError, RuntimeError):
                scalar = value
            if scalar is None or isinstance(scalar, (bool, str, int, float)):
                return _flat_value(key, scalar)
    raise InputError(
        f"record key {key!r}: value of type {type(value).__name__} is not a flat scalar; "
        "records hold only str, int, float, bool or None (store arrays as artifacts in maps/)"
    )


def _flat_record(record: Any) -> dict[str, str | int | float | bool | None]:
    """Validate one record and return a plain copy of it with plain Python scalars."""
    if not isinstance(record, Mapping):
        raise InputError(f"a record must be a dict of flat values, got {type(record).__name__}")
    out: dict[str, str | int | float | bool | None] = {}
    for key, value in record.items():
        if not isinstance(key, str):
            raise InputError(f"record keys must be str, got {key!r} ({type(key).__name__})")
        if key in _RESERVED_KEYS:
            raise InputError(
                f"record key {key!r} is reserved: the store adds 'study' and 'unit' to every "
                "record it returns; rename it (e.g. 'neuron' or 'channel' for a network unit)"
            )
        out[key] = _flat_value(key, value)
    return out


def _encode(record: Mapping[str, Any]) -> str:
    # allow_nan=True writes NaN/Infinity/-Infinity tokens, which json.loads reads back.
    return json.dumps(record, allow_nan=True, ensure_ascii=False, separators=(",", ":"))


def _check_name(what: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"{what} must be a non-empty str, got {value!r}")
    return value


def _relative_in(root: Path, relpath: str | os.PathLike[str]) -> PurePosixPath:
    """Validate a path relative to ``root`` that must stay inside it."""
    rel = Path(relpath)
    if rel.is_absolute():
        raise InputError(f"path {str(relpath)!r} must be relative to the run folder {root}")
    parts = [p for p in rel.parts if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InputError(
            f"path {str(relpath)!r} must name a file inside the run folder {root} (no '..')"
        )
    return PurePosixPath(*parts)


class UnitWriter:
    """Buffers the records and artifacts of one unit of work until its ``with`` block ends.

    Obtained from :meth:`RunStore.unit`; nothing reaches the database until the block exits
    normally. Values are validated when added, so a bad record fails inside the block (and the
    unit is not committed).
    """

    def __init__(self, store: RunStore, study: str, unit: str) -> None:
        self.study = study
        self.unit = unit
        self._store = store
        self._records: list[str] = []
        self._artifacts: list[tuple[str, str, str]] = []
        self._open = True
        self.fingerprint: str | None = None
        self.scope: str | None = None

    def _check_open(self) -> None:
        if not self._open:
            raise StoreError(
                f"unit {self.study}/{self.unit} is closed (committed or abandoned); "
                "open a new `with store.unit(...)` block"
            )

    def add(self, record: Mapping[str, Any]) -> None:
        """Buffer one flat record (a dict of str/int/float/bool/None values)."""
        self._check_open()
        self._records.append(_encode(_flat_record(record)))

    def add_many(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Buffer several records; see :meth:`add`."""
        self._check_open()
        encoded = [_encode(_flat_record(r)) for r in records]
        self._records.extend(encoded)

    def artifact(self, kind: str, path: str | os.PathLike[str], title: str = "") -> None:
        """Buffer a reference to a file of this unit (e.g. ``kind="figure"`` for a PNG).

        ``path`` is absolute inside the run folder or relative to it; it is stored relative
        to the run folder (POSIX separators). The file itself is not read or checked.
        """
        self._check_open()
        _check_name("artifact kind", kind)
        if not isinstance(title, str):
            raise InputError(f"artifact title must be a str, got {type(title).__name__}")
        self._artifacts.append((kind, self._store._relpath(path), title))

    def __len__(self) -> int:
        """Number of records buffered so far."""
        return len(self._records)


class RunStore:
    """The SQLite database of one run folder, plus its ``figures/`` and ``maps/`` folders.

    Parameters
    ----------
    run_dir:
        The run folder (``runs/NAME``).
    create:
        If true (default), create the folder, its sub-folders and an empty database as needed.
        If false, open an existing run only: :class:`StoreError` if ``run_dir/run.db`` is missing.

    Raises
    ------
    StoreError
        ``run_dir`` is a file, ``run.db`` is missing (``create=False``), corrupt, not a gaplens
        run database, or written by a newer gaplens.

    Several :class:`RunStore` objects (threads, processes) may open one database: writes take
    SQLite's write lock and wait up to 30 s for it (WAL journal, so readers never block).
    """

    def __init__(self, run_dir: str | os.PathLike[str], create: bool = True) -> None:
        self.run_dir = Path(run_dir).absolute()
        self.figures_dir = self.run_dir / "figures"
        self.maps_dir = self.run_dir / "maps"
        self.db_path = self.run_dir / DB_NAME
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._run_id: int | None = None

        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise StoreError(f"run folder {self.run_dir} exists and is not a folder")
        if self.db_path.exists() and not self.db_path.is_file():
            raise StoreError(f"{self.db_path} exists and is not a file")
        if create:
            try:
                self.figures_dir.mkdir(parents=True, exist_ok=True)
                self.maps_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create run folder {self.run_dir}: {exc}") from exc
        elif not self.db_path.is_file():
            raise StoreError(f"{self.run_dir} is not a gaplens run folder: no {DB_NAME} in it")

        try:
            conn = sqlite3.connect(
                self.db_path,
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
                check_same_thread=False,  # guarded by self._lock
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.db_path}: {exc}") from exc
        self._conn = conn
        try:
            self._open_schema(create)
        except StoreError:
            self.close()
            raise
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(
                f"{self.db_path} is not a usable gaplens run database ({exc}); "
                "move it away or choose another --out folder"
            ) from exc

    # -- connection and schema ------------------------------------------------------------

    def _open_schema(self, create: bool) -> None:
        conn = self._connection()
        conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
        # Reading the schema fails on a corrupt file ("file is not a database").
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            if not create:
                raise StoreError(f"{self.db_path} is empty: not a gaplens run database")
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                pass  # e.g. a file system without shared memory: the default journal works too
            with self._transaction() as tx:
                # Another process may have initialized it meanwhile: look again under the lock.
                if not tx.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            tx.execute(statement)
                    tx.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [("format", _FORMAT), ("schema_version", str(SCHEMA_VERSION))],
                    )
                    tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            tables = {"meta"}
        fmt = None
        if "meta" in tables:
            row = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            fmt = row[0] if row else None
        if fmt != _FORMAT:
            raise StoreError(f"{self.db_path} is an SQLite database but not a gaplens run database")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.db_path} has schema version {version}, newer than this gaplens "
                f"understands ({SCHEMA_VERSION}); upgrade gaplens"
            )
        if version == 1:
            self._migrate_from_1()
        elif version < SCHEMA_VERSION:
            raise StoreError(f"{self.db_path} has unknown schema version {version}")

    def _migrate_from_1(self) -> None:
        """Version 1 had no fingerprints: its units are kept but count as stale (recomputed on resume)."""
        with self._transaction() as tx:
            if tx.execute("PRAGMA user_version").fetchone()[0] != 1:
                return  # another process migrated it meanwhile
            tx.execute("ALTER TABLE units ADD COLUMN fingerprint TEXT")
            tx.execute("ALTER TABLE units ADD COLUMN scope TEXT")
            tx.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the store of {self.run_dir} is closed")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` takes the write lock up front."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _db_errors(self, action: str) -> Iterator[None]:
        """Turn sqlite3 errors (locked, disk full, corrupt) into :class:`StoreError`."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"{self.db_path}: cannot {action}: {exc}") from exc

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._db_errors("read"):
            return self._connection().execute(sql, args).fetchall()

    def _relpath(self, path: str | os.PathLike[str]) -> str:
        """A path inside the run folder as a POSIX string relative to it."""
        p = Path(path)
        if p.is_absolute():
            try:
                p = p.resolve().relative_to(self.run_dir.resolve())
            except ValueError:
                raise InputError(
                    f"artifact path {str(path)!r} is outside the run folder {self.run_dir}"
                ) from None
        return _relative_in(self.run_dir, p).as_posix()

    # -- runs -----------------------------------------------------------------------------

    def start_run(self, command: str, params: Mapping[str, Any]) -> int:
        """Record the start of a command (status ``"running"``); return its run id.

        ``params`` is stored as JSON (values that JSON cannot hold are stored as ``str``).
        Units committed afterwards through this store remember this run id.
        """
        _check_name("command", command)
        if not isinstance(params, Mapping):
            raise InputError(f"params must be a dict, got {type(params).__name__}")
        text = json.dumps(dict(params), default=str, allow_nan=True, ensure_ascii=False)
        with self._db_errors("start a run"), self._transaction() as tx:
            cur = tx.execute(
                "INSERT INTO runs (command, params, started, status) VALUES (?, ?, ?, 'running')",
                (command, text, _now()),
            )
            run_id = int(cur.lastrowid)
        self._run_id = run_id
        return run_id

    def finish_run(self, run_id: int, status: str = "ok") -> None:
        """Mark run ``run_id`` finished now with ``status`` (``"ok"``, ``"failed"``, ...)."""
        _check_name("status", status)
        with self._db_errors("finish a run"), self._transaction() as tx:
            cur = tx.execute(
                "UPDATE runs SET finished = ?, status = ? WHERE id = ?", (_now(), status, run_id)
            )
            if cur.rowcount == 0:
                raise InputError(f"{self.db_path} has no run with id {run_id!r}")
        if self._run_id == run_id:
            self._run_id = None

    def runs(self) -> list[dict[str, Any]]:
        """All runs, oldest first: dicts with id, command, params (dict), started, finished,
        status (times are ISO 8601 UTC strings; ``finished`` is None while running)."""
        rows = self._read(
            "SELECT id, command, params, started, finished, status FROM runs ORDER BY id"
        )
        out = []
        for run_id, command, params, started, finished, status in rows:
            try:
                decoded = json.loads(params)
            except json.JSONDecodeError:
                decoded = {"params": params}
            out.append(
                {
                    "id": run_id,
                    "command": command,
                    "params": decoded,
                    "started": started,
                    "finished": finished,
                    "status": status,
                }
            )
        return out

    # -- units ----------------------------------------------------------------------------

    def is_done(self, study: str, unit: str, fingerprint: str | None = None) -> bool:
        """Whether unit ``unit`` of ``study`` has been committed (with this ``fingerprint``, if given)."""
        row = self._read("SELECT fingerprint FROM units WHERE study = ? AND unit = ?", (study, unit))
        if not row:
            return False
        return fingerprint is None or row[0][0] == fingerprint

    def fingerprint(self, study: str, unit: str) -> str | None:
        """The fingerprint unit ``unit`` of ``study`` was committed with (None: not done, or none given)."""
        row = self._read("SELECT fingerprint FROM units WHERE study = ? AND unit = ?", (study, unit))
        return row[0][0] if row else None

    def units(self, study: str, scope: str | None = None) -> list[str]:
        """Keys of the committed units of ``study`` (only those of ``scope`` if given), in commit order."""
        if scope is None:
            rows = self._read("SELECT unit FROM units WHERE study = ? ORDER BY id", (study,))
        else:
            rows = self._read("SELECT unit FROM units WHERE study = ? AND scope = ? ORDER BY id", (study, scope))
        return [r[0] for r in rows]

    def delete_units(self, study: str, units: Iterable[str]) -> int:
        """Delete units of ``study`` with their records and artifacts (one transaction); returns how many.

        The files the artifacts name are left alone: a stale figure is overwritten by its recomputation.
        """
        keys = [(study, _check_name("unit", u)) for u in units]
        if not keys:
            return 0
        with self._db_errors(f"delete units of {study}"), self._transaction() as tx:
            tx.executemany("DELETE FROM records WHERE study = ? AND unit = ?", keys)
            tx.executemany("DELETE FROM artifacts WHERE study = ? AND unit = ?", keys)
            cur = tx.executemany("DELETE FROM units WHERE study = ? AND unit = ?", keys)
            return int(cur.rowcount)

    @contextmanager
    def unit(self, study: str, unit: str, fingerprint: str | None = None,
             scope: str | None = None) -> Iterator[UnitWriter]:
        """Context manager for one unit of work; yields a :class:`UnitWriter`.

        On normal exit, the buffered records and artifacts and the row marking the unit done
        are written in one transaction. If the block raises, nothing is written and the
        exception propagates. A unit that is already done is replaced (its old rows are
        deleted in the same transaction); it keeps its place in the commit order.

        ``fingerprint`` is a digest of everything that determines the unit's result (model
        weights, data, options, seed); :meth:`is_done` with a fingerprint is true only when it
        matches, which is how the study runner tells a finished unit from a stale one.
        ``scope`` groups units (e.g. one model's units of a study) so that the runner can drop
        units that a new run of the same scope no longer plans.
        """
        _check_name("study", study)
        _check_name("unit", unit)
        writer = UnitWriter(self, study, unit)
        writer.fingerprint = fingerprint
        writer.scope = scope
        try:
            yield writer
        finally:
            writer._open = False
        self._commit(writer)

    def _commit(self, w: UnitWriter) -> None:
        key = (w.study, w.unit)
        with self._db_errors(f"commit unit {w.study}/{w.unit}"), self._transaction() as tx:
            tx.execute("DELETE FROM records WHERE study = ? AND unit = ?", key)
            tx.execute("DELETE FROM artifacts WHERE study = ? AND unit = ?", key)
            tx.execute(
                "INSERT INTO units (study, unit, committed, run_id, fingerprint, scope) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (study, unit) DO UPDATE SET committed = excluded.committed, "
                "run_id = excluded.run_id, fingerprint = excluded.fingerprint, scope = excluded.scope",
                (*key, _now(), self._run_id, w.fingerprint, w.scope),
            )
            tx.executemany(
                "INSERT INTO records (study, unit, seq, data) VALUES (?, ?, ?, ?)",
                [(*key, i, data) for i, data in enumerate(w._records)],
            )
            tx.executemany(
                "INSERT INTO artifacts (study, unit, seq, kind, path, title) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(*key, i, *a) for i, a in enumerate(w._artifacts)],
            )

    # -- reading --------------------------------------------------------------------------

    def records(self, study: str | None = None) -> list[dict[str, Any]]:
        """All records (of one study if given), in unit commit order then insertion order.

        Each is a flat dict that starts with the added keys ``"study"`` and ``"unit"``.
        """
        sql = (
            "SELECT r.study, r.unit, r.data FROM records r "
            "JOIN units u ON u.study = r.study AND u.unit = r.unit "
        )
        args: tuple[Any, ...] = ()
        if study is not None:
            sql += "WHERE r.study = ? "
            args = (study,)
        rows = self._read(sql + "ORDER BY u.id, r.seq", args)
        out = []
        for s, u, data in rows:
            try:
                rec = json.loads(data)
            except json.JSONDecodeError as exc:
                raise StoreError(f"{self.db_path}: a record of {s}/{u} is not JSON") from exc
            out.append({"study": s, "unit": u, **rec})
        return out

    def artifacts(self, study: str | None = None) -> list[dict[str, str]]:
        """All artifacts (of one study if given): dicts with study, unit, kind, path (relative
        to the run folder, POSIX separators) and title, in unit commit order."""
        sql = (
            "SELECT a.study, a.unit, a.kind, a.path, a.title FROM artifacts a "
            "JOIN units u ON u.study = a.study AND u.unit = a.unit "
        )
        args: tuple[Any, ...] = ()
        if study is not None:
            sql += "WHERE a.study = ? "
            args = (study,)
        rows = self._read(sql + "ORDER BY u.id, a.seq", args)
        keys = ("study", "unit", "kind", "path", "title")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def studies(self) -> list[str]:
        """The studies that have at least one committed unit, in order of first commit."""
        rows = self._read("SELECT study FROM units GROUP BY study ORDER BY MIN(id)")
        return [r[0] for r in rows]

    # -- files ----------------------------------------------------------------------------

    def atomic_write_bytes(self, relpath: str | os.PathLike[str], data: bytes) -> Path:
        """Write ``data`` to ``run_dir/relpath`` atomically (temp file + ``os.replace``).

        ``relpath`` must stay inside the run folder. Returns the absolute path written.
        """
        rel = _relative_in(self.run_dir, relpath)
        try:
            return atomic_write(self.run_dir / rel, data)
        except OSError as exc:
            raise StoreError(f"cannot write {self.run_dir / rel}: {exc}") from exc

    # -- life cycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"RunStore({str(self.run_dir)!r}, {state})"


def records(run_dir: str | os.PathLike[str]) -> pandas.DataFrame:
    """All records of a run folder as a DataFrame.

    Columns are ``study``, ``unit`` and then the union of the records' keys in order of first
    appearance; a record without a key has a missing value there. With no records, an empty
    DataFrame with columns ``study`` and ``unit``.

    Raises :class:`StoreError` if ``run_dir`` holds no ``run.db``.
    """
    import pandas as pd

    with RunStore(run_dir, create=False) as store:
        rows = store.records()
    if not rows:
        return pd.DataFrame(columns=["study", "unit"])
    return pd.DataFrame.from_records(rows)
