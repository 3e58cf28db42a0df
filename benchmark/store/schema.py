"""The DuckDB schema as ordered forward migrations, applied by writers on open.

Each migration runs in its own transaction and records itself in
`schema_version`; a DB is never migrated backwards. Add a change by appending
a migration, never by editing an applied one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

import duckdb

from .naming import kind_of
from .reference_data import load_reference_csv, reference_sha

Step = Union[str, Callable[[duckdb.DuckDBPyConnection], None]]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    steps: Sequence[Step]


def _backfill_train_kind(con: duckdb.DuckDBPyConnection) -> None:
    for run_id, spec in con.execute("SELECT id, train_spec FROM runs").fetchall():
        con.execute("UPDATE runs SET train_kind = ? WHERE id = ?", [kind_of(spec), run_id])


def _backfill_run_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Run keys for runs stored before them, from their config; the others say why they have none."""
    import json

    from benchmark.runkey import key_from_stored, settings_key_from_stored

    rows = con.execute("SELECT id, train_spec, profile, config, data_fingerprints FROM runs").fetchall()
    for run_id, spec, profile, config, fps in rows:
        cfg = {}
        try:
            cfg = json.loads(config) if config else {}
            key, why = key_from_stored(spec, cfg, json.loads(fps) if fps else {})
        except ValueError as e:  # unreadable JSON: marked, never fatal to the migration
            key, why = None, f"its config is unreadable ({e})"
        if key is None:
            con.execute("UPDATE runs SET run_key_note = ?, variant = ?, settings_key = ? WHERE id = ?",
                        [why, f"{profile}, settings unknown ({why})", settings_key_from_stored(cfg), run_id])
        else:
            con.execute("UPDATE runs SET run_key = ?, variant_key = ?, variant = ?, settings_key = ?, "
                        "adapted_to = ? WHERE id = ?",
                        [key.key, key.variant_key, key.variant, key.settings_key, key.adapted_to, run_id])


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core tables: datasets, runs, metrics, fid, attribute distributions, costs, submissions", (
        """CREATE TABLE datasets (
            key VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, root VARCHAR,
            counts VARCHAR, fingerprint VARCHAR, updated_at TIMESTAMP)""",
        """CREATE TABLE runs (
            id VARCHAR PRIMARY KEY, train_spec VARCHAR NOT NULL, profile VARCHAR NOT NULL,
            seed INTEGER NOT NULL, status VARCHAR NOT NULL, error VARCHAR, config VARCHAR,
            code_version VARCHAR, dirty BOOLEAN, library_versions VARCHAR, device VARCHAR,
            started_at TIMESTAMP, ended_at TIMESTAMP, train_images BIGINT, wall_seconds DOUBLE)""",
        """CREATE TABLE metrics (
            run_id VARCHAR NOT NULL, test_set VARCHAR NOT NULL,
            r1 DOUBLE, r5 DOUBLE, r10 DOUBLE, map DOUBLE, minp DOUBLE,
            num_query INTEGER, num_gallery INTEGER)""",
        """CREATE TABLE fid (
            run_id VARCHAR NOT NULL, stage VARCHAR NOT NULL, target VARCHAR NOT NULL,
            value DOUBLE, weights VARCHAR, dims INTEGER, n INTEGER)""",
        """CREATE TABLE attribute_dist (
            run_id VARCHAR NOT NULL, attribute VARCHAR NOT NULL, value INTEGER NOT NULL,
            p DOUBLE NOT NULL, source VARCHAR NOT NULL)""",
        """CREATE TABLE costs (
            run_id VARCHAR NOT NULL, stage VARCHAR NOT NULL, wall_seconds DOUBLE, images BIGINT)""",
        """CREATE TABLE submissions (
            name VARCHAR NOT NULL, version INTEGER NOT NULL, status VARCHAR NOT NULL,
            reasons VARCHAR, report VARCHAR, path VARCHAR, n_images BIGINT, n_ids INTEGER,
            created_at TIMESTAMP, PRIMARY KEY (name, version))""",
    )),
    Migration(2, "comparability settings, provenance and process ownership on runs; surrogate fits", (
        "ALTER TABLE runs ADD COLUMN arch VARCHAR",
        "ALTER TABLE runs ADD COLUMN pretrained BOOLEAN",
        "ALTER TABLE runs ADD COLUMN height INTEGER",
        "ALTER TABLE runs ADD COLUMN width INTEGER",
        "ALTER TABLE runs ADD COLUMN fid_weights VARCHAR",
        "ALTER TABLE runs ADD COLUMN train_kind VARCHAR",
        "ALTER TABLE runs ADD COLUMN train_ids INTEGER",
        "ALTER TABLE runs ADD COLUMN budget BIGINT",
        "ALTER TABLE runs ADD COLUMN nproc INTEGER",
        "ALTER TABLE runs ADD COLUMN test_sets VARCHAR",
        "ALTER TABLE runs ADD COLUMN data_fingerprints VARCHAR",
        "ALTER TABLE runs ADD COLUMN notes VARCHAR",
        "ALTER TABLE runs ADD COLUMN owner_host VARCHAR",
        "ALTER TABLE runs ADD COLUMN owner_pid INTEGER",
        "ALTER TABLE runs ADD COLUMN owner_start BIGINT",
        "ALTER TABLE metrics ADD COLUMN eval_seconds DOUBLE",
        "ALTER TABLE fid ADD COLUMN n_target INTEGER",
        "ALTER TABLE fid ADD COLUMN style_method VARCHAR DEFAULT ''",
        "ALTER TABLE attribute_dist ADD COLUMN target VARCHAR DEFAULT ''",
        "ALTER TABLE costs ADD COLUMN device VARCHAR DEFAULT ''",
        "ALTER TABLE submissions ADD COLUMN n_cams INTEGER",
        "ALTER TABLE submissions ADD COLUMN fingerprint VARCHAR",
        "ALTER TABLE submissions ADD COLUMN has_attributes BOOLEAN",
        """CREATE TABLE surrogate (
            run_id VARCHAR NOT NULL, target VARCHAR NOT NULL, r2_cv DOUBLE, r2_train DOUBLE,
            n_probe INTEGER, model VARCHAR, params VARCHAR)""",
        _backfill_train_kind,
    )),
    Migration(3, "the paper's reference rows (Tables 2-3) and a key/value meta table", (
        """CREATE TABLE reference (
            table_no INTEGER NOT NULL, row_order INTEGER NOT NULL, train_set VARCHAR NOT NULL,
            synthetic BOOLEAN, supervised BOOLEAN, bboxes BIGINT, time_days DOUBLE,
            test_set VARCHAR NOT NULL, rank1 DOUBLE, rank5 DOUBLE, map DOUBLE, note VARCHAR)""",
        "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    )),
    Migration(4, "run keys: a digest of everything that changes a result, and the settings in words", (
        "ALTER TABLE runs ADD COLUMN run_key VARCHAR",
        "ALTER TABLE runs ADD COLUMN variant_key VARCHAR",
        "ALTER TABLE runs ADD COLUMN variant VARCHAR",
        "ALTER TABLE runs ADD COLUMN run_key_note VARCHAR",
        "ALTER TABLE runs ADD COLUMN settings_key VARCHAR",
        "ALTER TABLE runs ADD COLUMN adapted_to VARCHAR",
        _backfill_run_keys,
    )),
    Migration(5, "the weights files each run loaded (file, SHA-256, tensors), recorded where they were used", (
        """CREATE TABLE IF NOT EXISTS weights_used (
            run_id VARCHAR NOT NULL, part VARCHAR NOT NULL, file VARCHAR, sha256 VARCHAR, checksum VARCHAR,
            tensors INTEGER, label VARCHAR, from_cache BOOLEAN DEFAULT false)""",
    )),
)

SCHEMA_VERSION = MIGRATIONS[-1].version
DATA_TABLES = ("datasets", "runs", "metrics", "fid", "attribute_dist", "costs", "surrogate", "weights_used",
               "submissions", "reference")


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> tuple | None:
    """First row or None. Reads the whole result: DuckDB 2 keeps a half-read result open, which blocks
    the connection's next relation call."""
    rows = con.execute(sql, list(params)).fetchall()
    return rows[0] if rows else None


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [name]
    ).fetchall()  # fetchall: DuckDB 2 keeps a half-read result open and blocks the next relation call
    return bool(rows and rows[0][0])


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The DB's schema version; 0 for a file without the schema."""
    if not has_table(con, "schema_version"):
        return 0
    rows = con.execute("SELECT max(version) FROM schema_version").fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def apply_migrations(con: duckdb.DuckDBPyConnection, target: int | None = None,
                     migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Bring the DB forward to `target` (default: the latest); returns the versions applied."""
    target = migrations[-1].version if target is None else target
    con.execute("""CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)""")
    have = current_version(con)
    if have > migrations[-1].version:
        from .errors import StoreError
        raise StoreError(f"the results database has schema version {have}, newer than this aostbench "
                         f"understands ({migrations[-1].version}); update aostbench")
    applied = []
    for m in migrations:
        if m.version <= have or m.version > target:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for step in m.steps:
                if callable(step):
                    step(con)
                else:
                    con.execute(step)
            con.execute("INSERT INTO schema_version (version, description) VALUES (?, ?)",
                        [m.version, m.description])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(m.version)
    return applied


def refresh_reference(con: duckdb.DuckDBPyConnection) -> bool:
    """(Re)load the paper's rows when the packaged CSV differs from what the DB holds."""
    if not has_table(con, "reference"):
        return False
    sha = reference_sha()
    row = one(con, "SELECT value FROM meta WHERE key = 'reference_sha'")
    if row and row[0] == sha:
        return False
    rows = load_reference_csv()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM reference")
        con.executemany(
            "INSERT INTO reference (table_no, row_order, train_set, synthetic, supervised, bboxes, time_days, "
            "test_set, rank1, rank5, map, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[r["table"], r["row_order"], r["train_set"], r["synthetic"], r["supervised"], r["bboxes"],
              r["time_days"], r["test_set"], r["rank1"], r["rank5"], r["map"], r["note"]] for r in rows],
        )
        con.execute("INSERT INTO meta (key, value) VALUES ('reference_sha', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [sha])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True
