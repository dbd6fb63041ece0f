"""The ChromaDB store: versioned collections of chunks and a pointer to the one in use.

A build writes a new collection and only then moves the pointer, so an interrupted build (an exception,
Ctrl-C, `kill -9`) leaves the previous index whole and answering. The pointer is the metadata of a
small collection of its own, so the same scheme works on disk and on a ChromaDB server.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.chunking import Chunk
from ingest.errors import HbragError

POINTER = "hbrag_pointer"
PREFIX = "hbrag_chunks_"
INDEX_FORMAT = "1"


@dataclass(frozen=True)
class Manifest:
    """What an index was built from; a mismatch with the present handbook or model means rebuild."""

    collection: str
    handbook_sha256: str
    embedding_model: str
    chunker_version: str
    created_at: str
    chunks: int
    sections: int
    format: str = INDEX_FORMAT


def chunk_metadata(chunk: Chunk, bank: bool) -> dict[str, Any]:
    return {
        "section_path": json.dumps(list(chunk.section_path)),
        "section": chunk.section,
        "kind": chunk.kind,
        "line_start": chunk.line_start,
        "line_end": chunk.line_end,
        "qid": chunk.qid,
        "bank": bank,
    }


def chunk_from_record(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(
        id=chunk_id,
        text=text,
        section_path=tuple(json.loads(meta["section_path"])),
        kind=meta["kind"],
        line_start=int(meta["line_start"]),
        line_end=int(meta["line_end"]),
        qid=meta.get("qid", ""),
    )


class IndexStore:
    """A Chroma client (embedded on disk or a server) holding the handbook's chunk collections."""

    def __init__(self, client: Any, location: str, index_dir: Path | None = None) -> None:
        self.client = client
        self.location = location
        self.index_dir = index_dir  # None for a server
        self._collection: Any = None
        self._name = ""

    @classmethod
    def open(cls, index_dir: Path | None = None, chroma_url: str | None = None) -> IndexStore:
        """Open (creating if needed) an embedded index in `index_dir`, or connect to `chroma_url`."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if chroma_url:
            from urllib.parse import urlparse

            url = urlparse(chroma_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise HbragError(f"--chroma-url must look like http://HOST:PORT, not {chroma_url!r}")
            try:
                client = chromadb.HttpClient(
                    host=url.hostname,
                    port=url.port or (443 if url.scheme == "https" else 80),
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
                client.heartbeat()
            except Exception as exc:
                raise HbragError(f"cannot reach the ChromaDB server at {chroma_url}: {_reason(exc)}") from exc
            return cls(client, chroma_url)
        assert index_dir is not None
        index_dir = Path(index_dir)
        if index_dir.exists() and not index_dir.is_dir():
            raise HbragError(f"index directory {index_dir} is a file: choose another --index-dir")
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HbragError(
                f"index directory {index_dir} cannot be created ({exc.strerror}): choose another --index-dir"
            ) from exc
        try:
            client = chromadb.PersistentClient(path=str(index_dir), settings=chroma_settings)
            client.list_collections()
        except PermissionError as exc:
            raise HbragError(f"index directory {index_dir} is not writable: choose another --index-dir") from exc
        except Exception as exc:
            raise HbragError(
                f"index at {index_dir} is unreadable ({_reason(exc)}): move it away and run `hbrag ingest`"
            ) from exc
        return cls(client, str(index_dir), index_dir)

    # -- reading -------------------------------------------------------------------------------

    def manifest(self) -> Manifest | None:
        """The manifest of the collection in use, or None when nothing was built yet."""
        try:
            pointer = self.client.get_collection(POINTER, embedding_function=None)
        except Exception:
            return None
        meta = dict(pointer.metadata or {})
        if meta.get("format") != INDEX_FORMAT or "collection" not in meta:
            return None
        return Manifest(**{k: meta[k] for k in Manifest.__dataclass_fields__ if k in meta})

    def collection(self) -> Any:
        """The collection in use; raises when no index was built here."""
        if self._collection is None:
            manifest = self.manifest()
            if manifest is None:
                raise HbragError(f"no index at {self.location}: run `hbrag ingest`")
            self._collection = self.client.get_collection(manifest.collection, embedding_function=None)
            self._name = manifest.collection
        return self._collection

    def build_name(self) -> str:
        """The name of the build this store reads (the collection the pointer named when it was opened)."""
        self.collection()
        return self._name

    def moved(self) -> bool:
        """True (and the cached collection dropped) when the pointer now names another build."""
        manifest = self.manifest()
        if manifest is None or manifest.collection == self._name:
            return False
        self._collection = None
        return True

    def all_chunks(self) -> list[tuple[Chunk, bool]]:
        """Every chunk of the index in use, with whether it belongs to the question bank."""
        got = self.collection().get(include=["documents", "metadatas"])
        out = [
            (chunk_from_record(i, d, m), bool(m.get("bank")))
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]
        return sorted(out, key=lambda pair: pair[0].line_start)

    # -- writing -------------------------------------------------------------------------------

    def build(
        self,
        manifest: dict[str, Any],
        chunks: Sequence[Chunk],
        bank: Sequence[bool],
        embed: Callable[[Sequence[str]], list[list[float]]],
        batch_size: int = 32,
        on_batch: Callable[[int], None] = lambda n: None,
    ) -> Manifest:
        """Embed and store `chunks` in a new collection, then switch the pointer to it.

        On disk, one build at a time: a second `hbrag ingest` on the same directory stops with one line
        rather than racing the first (a ChromaDB server serialises writers itself).
        """
        with self._write_lock():
            return self._build(manifest, chunks, bank, embed, batch_size, on_batch)

    @contextlib.contextmanager
    def _write_lock(self):  # type: ignore[no-untyped-def]
        if self.index_dir is None:
            yield
            return
        import fcntl

        with (self.index_dir / ".hbrag-write.lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise HbragError(
                    f"another `hbrag ingest` is writing the index at {self.location}: wait for it to finish"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build(
        self,
        manifest: dict[str, Any],
        chunks: Sequence[Chunk],
        bank: Sequence[bool],
        embed: Callable[[Sequence[str]], list[list[float]]],
        batch_size: int,
        on_batch: Callable[[int], None],
    ) -> Manifest:
        name = f"{PREFIX}{datetime.now(UTC):%Y%m%d%H%M%S}_{uuid.uuid4().hex[:8]}"
        full = Manifest(collection=name, **manifest)
        staging = self.client.create_collection(
            name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={k: v for k, v in asdict(full).items() if k != "collection"},
        )
        try:
            for start in range(0, len(chunks), batch_size):
                batch = chunks[start : start + batch_size]
                staging.add(
                    ids=[c.id for c in batch],
                    documents=[c.text for c in batch],
                    embeddings=embed([c.embed_text for c in batch]),
                    metadatas=[
                        chunk_metadata(c, b) for c, b in zip(batch, bank[start : start + batch_size], strict=True)
                    ],
                )
                on_batch(len(batch))
        except BaseException:
            self._drop(name)
            raise
        self._switch(full)
        return full

    def _switch(self, manifest: Manifest) -> None:
        """Point at the new collection (one metadata write), keep the previous one for readers that may
        still be answering from it, and drop every older chunk collection with its folder on disk."""
        previous = self.manifest()
        pointer = self.client.get_or_create_collection(POINTER, embedding_function=None)
        pointer.modify(metadata=asdict(manifest))
        self._collection = None
        keep = {manifest.collection, previous.collection if previous else ""}
        for old in self.client.list_collections():
            old_name = old if isinstance(old, str) else old.name
            if old_name.startswith(PREFIX) and old_name not in keep:
                self._drop(old_name)
        self.sweep()

    def sweep(self) -> list[Path]:
        """Remove segment folders no collection owns (Chroma leaves a deleted collection's folder behind).

        Embedded only: the live segments are read from Chroma's own catalogue (the `segments` table of
        chroma.sqlite3); a folder is removed only when its name is a UUID that no segment has.
        """
        if self.index_dir is None:
            return []
        import shutil
        import sqlite3

        db = self.index_dir / "chroma.sqlite3"
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                live = {row[0] for row in conn.execute("SELECT id FROM segments")}
        except sqlite3.Error:
            return []  # another Chroma layout: leave the folders alone
        removed = []
        for folder in self.index_dir.iterdir():
            if folder.is_dir() and _is_uuid(folder.name) and folder.name not in live:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed

    def _drop(self, name: str) -> None:
        # Best effort: a leftover collection is dropped by the next build's switch.
        with contextlib.suppress(Exception):
            self.client.delete_collection(name)


def _is_uuid(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
