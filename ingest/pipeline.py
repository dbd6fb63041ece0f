"""Ingest the handbook: read, chunk, and (only when something changed) embed into a new collection."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.chunking import CHUNKER_VERSION, Chunk, chunk_markdown
from ingest.errors import HbragError
from ingest.index import IndexStore, Manifest
from ingest.questions import in_question_bank


@dataclass(frozen=True)
class IngestReport:
    manifest: Manifest
    rebuilt: bool
    seconds: float

    def summary(self) -> str:
        m = self.manifest
        verb = "built" if self.rebuilt else "up to date, nothing re-embedded:"
        return f"index {verb} {m.chunks} chunks from {m.sections} sections in {self.seconds:.1f} s"


def read_handbook(path: Path) -> str:
    """The handbook's text, or one sentence saying why it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise HbragError(f"handbook not found at {path}: pass --handbook PATH")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HbragError(f"handbook {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from exc
    if not text.strip():
        raise HbragError(f"handbook {path} is empty")
    return text


def handbook_chunks(text: str, source: str = "the handbook") -> list[Chunk]:
    chunks = chunk_markdown(text)
    if not chunks:
        raise HbragError(f"{source} has no `## ` sections to index: the handbook must be Markdown with headings")
    return chunks


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def needs_rebuild(manifest: Manifest | None, handbook_sha: str, embedding_model: str) -> bool:
    return manifest is None or (
        manifest.handbook_sha256,
        manifest.embedding_model,
        manifest.chunker_version,
    ) != (
        handbook_sha,
        embedding_model,
        CHUNKER_VERSION,
    )


def ingest_handbook(
    handbook: Path,
    store: IndexStore,
    embedder_factory: Callable[[], object],
    embedding_model: str,
    rebuild: bool = False,
    progress: bool = True,
) -> IngestReport:
    """Bring the index in line with the handbook; the embedder is only created when embedding is needed.

    `embedding_model` is the name the embedder will report, so an unchanged index costs no model load.
    """
    started = time.perf_counter()
    text = read_handbook(handbook)
    digest = sha256(text)
    current = store.manifest()
    if not rebuild and not needs_rebuild(current, digest, embedding_model):
        assert current is not None
        return IngestReport(current, rebuilt=False, seconds=time.perf_counter() - started)
    chunks = handbook_chunks(text, str(handbook))
    embedder = embedder_factory()
    from tqdm import tqdm

    with tqdm(total=len(chunks), desc="Embedding chunks", unit="chunk", disable=not progress) as bar:
        manifest = store.build(
            {
                "handbook_sha256": digest,
                "embedding_model": embedding_model,
                "chunker_version": CHUNKER_VERSION,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "chunks": len(chunks),
                "sections": len({c.section_path for c in chunks}),
            },
            chunks,
            [in_question_bank(c.section_path) for c in chunks],
            embedder.embed_documents,  # type: ignore[attr-defined]
            on_batch=bar.update,
        )
    return IngestReport(manifest, rebuilt=True, seconds=time.perf_counter() - started)
