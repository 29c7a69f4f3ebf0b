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
from typing import Iterable, Iterator, Optional

from phototag.library.keywords import Keyword, PhotoMetadata
from phototag.library.walk import sidecar_names_from_signature

SCHEMA_VERSION = 4

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
    # 3 -> 4: a write with --replace-links that split a hard-linked sidecar records the inode it
    # left ('dev:ino'), so undo can link the name back to it (phototag.library.sidecar).
    """
    ALTER TABLE write_journal ADD COLUMN replaced_link TEXT;
    """,
]

FINGERPRINT_CHUNK = 64 * 1024


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
    """Folder for a library's other files (personal models, exports), beside its index."""
    return index_path.with_suffix("")


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


class IndexError_(RuntimeError):
    """The index cannot be opened or is from a newer phototag."""


class Index:
    def __init__(self, db_path: Path, root: Path):
        self.db_path = Path(db_path)
        self.root = Path(root).resolve()
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.connection = sqlite3.connect(self.db_path, timeout=60.0, isolation_level=None)
        except sqlite3.Error as error:
            raise IndexError_(f"cannot open index {self.db_path}: {error}") from error
        self.connection.execute("PRAGMA busy_timeout = 60000")
        self._enable_wal()
        self.connection.execute("PRAGMA synchronous = NORMAL")
        self.connection.execute("PRAGMA foreign_keys = ON")
        self._migrate()
        self._check_root()

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
        self.connection.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- schema
    def _migrate(self) -> None:
        version = self.connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise IndexError_(
                f"index {self.db_path} has schema {version}, newer than this phototag ({SCHEMA_VERSION}); upgrade phototag"
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
        with self.write():
            row = self.connection.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
            if row is None:
                self.connection.execute("INSERT INTO meta(key, value) VALUES ('root', ?)", (printable(os.fsencode(self.root)),))

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
        count = 0
        for rel in paths:
            count += self.connection.execute("DELETE FROM photos WHERE path = ?", (rel,)).rowcount
        return count

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
