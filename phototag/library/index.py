"""The local index: one SQLite database per library root.

Everything the model sees comes from here (keywords, history, cached backbone
features); the model never walks folders.

Location: by default under the platformdirs user data dir, one file per library
root keyed by its resolved path; `--index PATH` or PHOTOTAG_INDEX overrides it.

Concurrency: WAL journal, a generous busy timeout and short IMMEDIATE write
transactions, so two phototag processes on one library serialise their writes
instead of corrupting the file.

Paths are stored as OS bytes (`path` BLOB, relative to the root) so that file
names that are not valid UTF-8 round-trip exactly; `display_path` is for people.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from phototag.errors import EXIT_INDEX, PhototagError
from phototag.fsio import private_dir, private_file
from phototag.library.keywords import Keyword, PhotoMetadata
from phototag.library.walk import sidecar_names_from_signature

SCHEMA_VERSION = 6
# In the SQLite header (PRAGMA application_id): this file is a phototag index. A file that carries
# another program's id, or another program's tables, is refused without a byte written to it.
APPLICATION_ID = 0x50544147  # "PTAG"

# Migrations: MIGRATIONS[n] brings a database from user_version n to n+1.
# Never edit a released step; append a new one and bump SCHEMA_VERSION.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE photos (
        id            INTEGER PRIMARY KEY,
        path          BLOB NOT NULL UNIQUE,   -- relative to the library root, OS bytes
        display_path  TEXT NOT NULL,          -- printable form of path
        folder        TEXT NOT NULL,          -- printable relative parent folder ('' for the root)
        size          INTEGER NOT NULL,
        mtime_ns      INTEGER NOT NULL,
        sidecars      BLOB NOT NULL DEFAULT x'',  -- b'name/size/mtime_ns/...' of the sidecars beside it
        fingerprint   TEXT,                   -- content fingerprint, see fingerprint_file()
        width         INTEGER,
        height        INTEGER,
        creator       TEXT,                   -- XMP dc:creator or EXIF Artist
        tag_keys      TEXT NOT NULL DEFAULT '',  -- the effective tags' normalised keys, one per line
        status        TEXT NOT NULL DEFAULT 'ok',  -- 'ok' | 'error'
        error         TEXT,
        scanned_at    REAL NOT NULL
    );
    CREATE INDEX photos_fingerprint ON photos(fingerprint);
    CREATE INDEX photos_folder ON photos(folder);
    CREATE TABLE keywords (
        photo_id  INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        text      TEXT NOT NULL,
        source    TEXT NOT NULL,   -- xmp-sidecar | xmp | iptc | exif
        field     TEXT NOT NULL,   -- dc:subject, lr:hierarchicalSubject, ...
        file      BLOB NOT NULL    -- relative path (OS bytes) of the file it came from
    );
    CREATE INDEX keywords_photo ON keywords(photo_id);
    -- Backbone feature cache, keyed by content so moves and renames keep it.
    CREATE TABLE features (
        fingerprint TEXT NOT NULL,
        backbone    TEXT NOT NULL,
        dtype       TEXT NOT NULL,
        shape       TEXT NOT NULL,   -- JSON list
        data        BLOB NOT NULL,
        created_at  REAL NOT NULL,
        PRIMARY KEY (fingerprint, backbone)
    );
    -- Sidecar write journal: one batch per command run, one row per sidecar written.
    CREATE TABLE write_batches (
        id          INTEGER PRIMARY KEY,
        command     TEXT NOT NULL,
        started_at  REAL NOT NULL,
        finished_at REAL,
        undone_at   REAL
    );
    CREATE TABLE write_journal (
        id          INTEGER PRIMARY KEY,
        batch_id    INTEGER NOT NULL REFERENCES write_batches(id) ON DELETE CASCADE,
        sidecar     BLOB NOT NULL,   -- absolute path, OS bytes
        previous    BLOB,            -- content before the write; NULL when phototag created the file
        written     BLOB,            -- content phototag wrote
        tags        TEXT NOT NULL,   -- JSON list of tags added
        model       TEXT,            -- which model suggested them (provenance)
        written_at  REAL
    );
    CREATE INDEX write_journal_batch ON write_journal(batch_id);
    -- Suggestions shown to the person (provenance for review/apply).
    CREATE TABLE suggestions (
        photo_id    INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        tag         TEXT NOT NULL,
        score       REAL NOT NULL,
        source      TEXT NOT NULL,   -- personal | general | history
        model       TEXT NOT NULL,
        created_at  REAL NOT NULL
    );
    CREATE INDEX suggestions_photo ON suggestions(photo_id);
    """,
    # 1 -> 2: the suggestions table was written by suggest and read by nothing.
    """
    DROP TABLE suggestions;
    """,
    # 2 -> 3: when and where each photo was taken (library.capture). Older scans never read
    # them, so every photo is marked changed (an mtime no file has) and read again by the next
    # scan; its fingerprint, and so its cached features, stay.
    """
    ALTER TABLE photos ADD COLUMN taken TEXT;         -- capture time, local: 'YYYY-MM-DDTHH:MM:SS' or 'YYYY-MM-DD'
    ALTER TABLE photos ADD COLUMN taken_offset TEXT;  -- its UTC offset '+HH:MM', when the file says it
    ALTER TABLE photos ADD COLUMN latitude REAL;      -- decimal degrees, south negative
    ALTER TABLE photos ADD COLUMN longitude REAL;     -- decimal degrees, west negative
    CREATE INDEX photos_taken ON photos(taken);
    UPDATE photos SET mtime_ns = -1;
    """,
    # 3 -> 4: the file says it is a phototag index (older ones are recognised by their tables).
    f"""
    PRAGMA application_id = {APPLICATION_ID};
    """,
    # 4 -> 5: the person's review decisions, kept as they are made (library.decisions).
    """
    CREATE TABLE decisions (
        photo_id    INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        tag         TEXT NOT NULL,     -- as it is written (a hierarchy as its path)
        state       TEXT NOT NULL,     -- 'accept' | 'reject'
        model       TEXT,              -- the model that suggested it; NULL for a typed tag
        batch_id    INTEGER,           -- the write batch that wrote it (0: it was there already); NULL: not yet
        decided_at  REAL NOT NULL,
        PRIMARY KEY (photo_id, tag)
    );
    CREATE INDEX decisions_batch ON decisions(batch_id);
    """,
    # 5 -> 6: a write with --replace-links that split a hard-linked sidecar records the inode it
    # left ('dev:ino'), so undo can link the name back to it (phototag.library.sidecar).
    """
    ALTER TABLE write_journal ADD COLUMN replaced_link TEXT;
    """,
]

FINGERPRINT_CHUNK = 64 * 1024
_CHUNK = 500  # bound parameters per `IN (...)` query


def fingerprint_file(path: Path, size: Optional[int] = None) -> str:
    """A fast content fingerprint: BLAKE2b over the size, the first and the last 64 KiB.

    Reading whole 25 MB RAW files would make the first scan disk-bound; head and
    tail cover the JPEG/TIFF headers, embedded metadata and the end of the
    compressed data, which is enough to tell photos apart and to follow a photo
    across renames and moves (the feature cache is keyed by it).
    """
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        if size is None:
            size = os.fstat(handle.fileno()).st_size
        digest.update(size.to_bytes(8, "little"))
        digest.update(handle.read(FINGERPRINT_CHUNK))
        if size > 2 * FINGERPRINT_CHUNK:
            handle.seek(size - FINGERPRINT_CHUNK)
            digest.update(handle.read(FINGERPRINT_CHUNK))
        elif size > FINGERPRINT_CHUNK:
            digest.update(handle.read())
    return digest.hexdigest()


def default_index_path(root: Path) -> Path:
    """Per-library database under the user data dir, keyed by the resolved root path."""
    from platformdirs import user_data_path

    resolved = os.fsencode(Path(root).resolve())
    key = hashlib.sha256(resolved).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(root).resolve().name).strip("-")[:40] or "library"
    base = Path(os.environ.get("PHOTOTAG_DATA_DIR") or user_data_path("phototag", appauthor=False))
    return base / "libraries" / f"{slug}-{key}.sqlite"


def library_data_dir(index_path: Path) -> Path:
    """Folder for a library's other files (personal models, thumbnails), beside its index: its name
    without the suffix (`NAME.data` for an index whose name has no suffix)."""
    index_path = Path(index_path)
    return index_path.with_suffix("") if index_path.suffix else index_path.with_name(index_path.name + ".data")


def to_rel_bytes(root: Path, path: Path) -> bytes:
    """Path relative to the library root, as OS bytes."""
    raw, prefix = os.fsencode(path), os.fsencode(root) + os.sep.encode()
    if raw.startswith(prefix):  # the common case, without relpath's normalisation cost
        return raw[len(prefix) :]
    return os.fsencode(os.path.relpath(path, root))


def printable(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


@dataclass
class PhotoRow:
    id: int
    path: Path  # absolute
    rel: bytes
    display_path: str
    folder: str
    size: int
    mtime_ns: int
    fingerprint: Optional[str]
    width: Optional[int]
    height: Optional[int]
    creator: Optional[str]
    status: str
    error: Optional[str]
    sidecars: list[Path] = field(default_factory=list)
    keywords: list[Keyword] = field(default_factory=list)
    taken: Optional[str] = None  # capture time, local ISO ('YYYY-MM-DD' when only the day is known)
    taken_offset: Optional[str] = None  # '+HH:MM'
    latitude: Optional[float] = None
    longitude: Optional[float] = None

    def metadata(self) -> PhotoMetadata:
        return PhotoMetadata(
            keywords=list(self.keywords),
            creator=self.creator,
            width=self.width,
            height=self.height,
            taken=self.taken,
            taken_offset=self.taken_offset,
            latitude=self.latitude,
            longitude=self.longitude,
        )


@dataclass(frozen=True)
class KnownFile:
    size: int
    mtime_ns: int
    sidecars: bytes  # sidecar signature, compared verbatim


class IndexError_(PhototagError, RuntimeError):
    """The index cannot be used: damaged, not phototag's, another library's, read-only, its disk full."""

    exit_code = EXIT_INDEX


# What SQLite's error means for the person (by its result code; the message text on Python 3.10), and what to do.
_REBUILD = "; move it away, and `phototag scan` builds a new one"
_PROBLEMS = (
    (("SQLITE_NOTADB", "not a database"), "is not a SQLite database (damaged, or another kind of file)", _REBUILD),
    (("SQLITE_CORRUPT", "malformed"), "is damaged", _REBUILD + " (the undo journal and cached features are lost)"),
    (("SQLITE_READONLY", "readonly"), "cannot be written (the file or its folder is read-only)", ""),
    (("SQLITE_FULL", "disk is full"), "cannot grow: the disk that holds it is full", ""),
    (("SQLITE_CANTOPEN", "unable to open"), "cannot be opened (its folder is missing or not writable)", ""),
    (("SQLITE_BUSY", "SQLITE_LOCKED", "locked"), "is locked by another phototag run", ""),
    (("SQLITE_IOERR", "disk i/o"), "could not be read or written (input/output error)", ""),
)


def describe_error(db_path: Path, error: BaseException) -> str:
    """One line for a SQLite or OS error on the index at `db_path`."""
    if isinstance(error, OSError):
        return f"index {db_path}: {error.strerror or error}"
    name = getattr(error, "sqlite_errorname", "") or ""
    text = str(error)
    for keys, problem, advice in _PROBLEMS:
        if any(key in name if key.startswith("SQLITE_") else key in text.lower() for key in keys):
            return f"index {db_path} {problem} ({text}){advice}"
    return f"index {db_path}: {text}"


class Index:
    """One library's index. Opening checks, before anything is written, that the file is a phototag
    index (or a new one) and that it belongs to `root`; IndexError_ (one line) otherwise."""

    def __init__(self, db_path: Path, root: Path):
        self.db_path = Path(db_path)
        self.root = Path(root).resolve()
        self.notes: list[str] = []  # for the person's log: e.g. an old index that now belongs to `root`
        self.connection: Optional[sqlite3.Connection] = None
        try:
            self._open()
        except (sqlite3.Error, OSError) as error:
            self.close()
            raise IndexError_(describe_error(self.db_path, error)) from error
        except IndexError_:
            self.close()
            raise

    def _open(self) -> None:
        private_dir(self.db_path.parent)
        # 0600 before SQLite writes a byte; its -wal and -shm files take the database file's mode.
        private_file(self.db_path)
        self.connection = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None)
        self.connection.execute("PRAGMA busy_timeout = 60000")
        self._check_ours()
        self._enable_wal()
        self.connection.execute("PRAGMA synchronous = NORMAL")
        self.connection.execute("PRAGMA foreign_keys = ON")
        self._migrate()
        self._check_root()
        private_dir(self.data_dir)  # personal models and thumbnails live here

    def _check_ours(self) -> None:
        """Refuse another program's SQLite file (its application id, or its tables) before changing it."""
        db = self.connection
        # One read transaction, so the mark, the tables and the schema version come from one snapshot: read one
        # by one, a second opener of a new index could see no tables yet and the first opener's version after
        # its commit, and take the new index for another program's file.
        db.execute("BEGIN")
        try:
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = db.execute("PRAGMA user_version").fetchone()[0]
        finally:
            db.execute("COMMIT")
        if application_id == APPLICATION_ID:
            return
        if application_id != 0:
            raise IndexError_(
                f"{self.db_path} is another program's database (application id {application_id:#x}), not a phototag"
                " index; left untouched: name another --index"
            )
        if (not tables and version == 0) or (version > 0 and {"meta", "photos"} <= tables):
            return  # a new file, or a phototag index from before the mark (the migration marks it)
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise IndexError_(
            f"{self.db_path} is another program's database (tables {shown}), not a phototag index;"
            " left untouched: name another --index"
        )

    def _enable_wal(self, patience_s: float = 60.0) -> None:
        """WAL journal, retried: SQLite may answer "database is locked" at once, without waiting in its
        busy handler, while another process opens or closes the same index (WAL recovery or the
        closing checkpoint). Seen once in CI with two scanners on one index."""
        deadline = time.monotonic() + patience_s
        while True:
            try:
                self.connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @classmethod
    def for_library(cls, root: Path, override: Optional[Path] = None) -> "Index":
        return cls(Path(override) if override else default_index_path(root), root)

    @property
    def data_dir(self) -> Path:
        return library_data_dir(self.db_path)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            self.close()
        except sqlite3.Error:
            pass
        if isinstance(error, sqlite3.Error):  # a failure while in use (disk full, damage found): one line
            raise IndexError_(describe_error(self.db_path, error)) from error

    # ----------------------------------------------------------------- schema
    def _migrate(self) -> None:
        version = self.connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise IndexError_(
                f"index {self.db_path} has schema {version}, newer than this phototag ({SCHEMA_VERSION}); "
                f"upgrade phototag"
            )
        while version < SCHEMA_VERSION:
            with self.write():
                # Re-read under the write lock: another process may have migrated meanwhile.
                version = self.connection.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    break
                for statement in _split_sql(MIGRATIONS[version]):
                    self.connection.execute(statement)
                version += 1
                self.connection.execute(f"PRAGMA user_version = {version}")

    def _check_root(self) -> None:
        """The index belongs to the library root that first opened it; another root is refused, so that
        `undo B` never reverts library A's writes and `scan B` never takes over A's photos."""
        mine = printable(os.fsencode(self.root))
        stored = self._meta("root")
        if stored is None:
            with self.write():
                if self._meta("root") is None:  # (re-read under the write lock)
                    self.connection.execute("INSERT INTO meta(key, value) VALUES ('root', ?)", (mine,))
                    if self.photo_count():
                        self.notes.append(f"index {self.db_path} named no library folder; it now belongs to {mine}")
            stored = self._meta("root")
        if stored != mine:
            raise IndexError_(
                f"index {self.db_path} belongs to the library {stored}, not {mine}; give each library its own"
                " index (another --index or PHOTOTAG_INDEX, or none for the default)"
            )

    def _meta(self, key: str) -> Optional[str]:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def mark_scanned(self) -> None:
        """Record that a scan finished (so `tags` can tell "never scanned" from "no photos"). Call inside `write()`."""
        self.connection.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('scanned_at', ?)", (str(time.time()),))

    @property
    def scanned(self) -> bool:
        return self._meta("scanned_at") is not None

    @property
    def schema_version(self) -> int:
        return self.connection.execute("PRAGMA user_version").fetchone()[0]

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A short IMMEDIATE transaction: takes the write lock up front, waits for other processes."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            if self.connection.in_transaction:  # (SQLite may have rolled back itself: a full disk)
                self.connection.execute("ROLLBACK")
            raise
        else:
            self.connection.execute("COMMIT")

    # ------------------------------------------------------------------ scan
    def known_files(self) -> dict[bytes, KnownFile]:
        rows = self.connection.execute("SELECT path, size, mtime_ns, sidecars FROM photos")
        return {bytes(p): KnownFile(s, m, bytes(c)) for p, s, m, c in rows}

    def upsert_photo(
        self,
        path: Path,
        size: int,
        mtime_ns: int,
        sidecars_signature: bytes,
        fingerprint: Optional[str],
        metadata: Optional[PhotoMetadata],
        error: Optional[str] = None,
        tag_keys: tuple[str, ...] = (),
    ) -> int:
        """Insert or replace one photo and its keywords. Call inside `write()`.

        `tag_keys` are the photo's effective tags after precedence (see history.py), kept
        so library statistics need no pass over every keyword.
        """
        rel = to_rel_bytes(self.root, path)
        folder = printable(os.fsencode(os.path.dirname(os.fsdecode(rel))))
        meta = metadata or PhotoMetadata()
        cur = self.connection.execute(
            """
            INSERT INTO photos(path, display_path, folder, size, mtime_ns, sidecars, fingerprint,
                               width, height, creator, tag_keys, status, error, scanned_at,
                               taken, taken_offset, latitude, longitude)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(path) DO UPDATE SET
                size = excluded.size, mtime_ns = excluded.mtime_ns, sidecars = excluded.sidecars,
                fingerprint = excluded.fingerprint, width = excluded.width, height = excluded.height,
                creator = excluded.creator, tag_keys = excluded.tag_keys, status = excluded.status,
                error = excluded.error,
                scanned_at = excluded.scanned_at, taken = excluded.taken, taken_offset = excluded.taken_offset,
                latitude = excluded.latitude, longitude = excluded.longitude
            RETURNING id
            """,
            (
                rel,
                printable(rel),
                folder,
                size,
                mtime_ns,
                sidecars_signature,
                fingerprint,
                meta.width,
                meta.height,
                meta.creator,
                "\n".join(tag_keys),
                "error" if error else "ok",
                error,
                time.time(),
                meta.taken,
                meta.taken_offset,
                meta.latitude,
                meta.longitude,
            ),
        )
        photo_id = cur.fetchone()[0]
        self.connection.execute("DELETE FROM keywords WHERE photo_id = ?", (photo_id,))
        self.connection.executemany(
            "INSERT INTO keywords(photo_id, text, source, field, file) VALUES (?, ?, ?, ?, ?)",
            [(photo_id, k.text, k.source, k.field, to_rel_bytes(self.root, k.file)) for k in meta.keywords],
        )
        return photo_id

    def remove_paths(self, paths: Iterable[bytes]) -> int:
        """Forget photos that are no longer on disk. Call inside `write()`."""
        cursor = self.connection.executemany("DELETE FROM photos WHERE path = ?", ((rel,) for rel in paths))
        return max(cursor.rowcount, 0)

    def fingerprints(self, paths: Sequence[bytes]) -> set[str]:
        """The content fingerprints of these photos, asked in chunks (SQLite limits the bound parameters
        of one statement: 32,766 in stock builds, fewer in some)."""
        found: set[str] = set()
        for start in range(0, len(paths), _CHUNK):
            chunk = paths[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.connection.execute(
                f"SELECT fingerprint FROM photos WHERE fingerprint IS NOT NULL AND path IN ({marks})", chunk
            )
            found.update(fingerprint for (fingerprint,) in rows)
        return found

    # --------------------------------------------------------------- queries
    def photo_count(self) -> int:
        return self.connection.execute("SELECT COUNT(*) FROM photos").fetchone()[0]

    def photos(self, where: str = "", params: tuple = ()) -> list[PhotoRow]:
        """All photos (optionally filtered by a SQL condition on `photos`), with keywords."""
        rows = self.connection.execute(
            "SELECT id, path, display_path, folder, size, mtime_ns, fingerprint, width, height, creator,"
            " status, error, sidecars, taken, taken_offset, latitude, longitude"
            f" FROM photos {('WHERE ' + where) if where else ''} ORDER BY display_path",
            params,
        ).fetchall()
        by_id: dict[int, PhotoRow] = {}
        for r in rows:
            rel = bytes(r[1])
            path = self.root / os.fsdecode(rel)
            by_id[r[0]] = PhotoRow(
                id=r[0],
                path=path,
                rel=rel,
                display_path=r[2],
                folder=r[3],
                size=r[4],
                mtime_ns=r[5],
                fingerprint=r[6],
                width=r[7],
                height=r[8],
                creator=r[9],
                status=r[10],
                error=r[11],
                sidecars=[path.parent / name for name in sidecar_names_from_signature(r[12])],
                taken=r[13],
                taken_offset=r[14],
                latitude=r[15],
                longitude=r[16],
            )
        if by_id:
            for photo_id, text, source, field_, file in self.connection.execute(
                "SELECT photo_id, text, source, field, file FROM keywords ORDER BY rowid"
            ):
                row = by_id.get(photo_id)
                if row is not None:
                    row.keywords.append(Keyword(text, source, field_, self.root / os.fsdecode(bytes(file))))
        return list(by_id.values())

    def photo_by_path(self, path: Path) -> Optional[PhotoRow]:
        rows = self.photos("path = ?", (to_rel_bytes(self.root, Path(path).resolve()),))
        return rows[0] if rows else None


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our literals)."""
    cleaned = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [s.strip() for s in cleaned.split(";") if s.strip()]
