"""Ingest into a real ChromaDB on disk with the real MiniLM: idempotent, rebuilding, atomic."""

from __future__ import annotations

import pytest

from ingest.embeddings import embedding_model_name
from ingest.errors import HbragError
from ingest.index import IndexStore
from ingest.pipeline import ingest_handbook
from tests.conftest import HANDBOOK


def _ingest(store, embedder, handbook=HANDBOOK, **kw):
    return ingest_handbook(handbook, store, lambda: embedder, embedding_model_name(embedder.path), progress=False, **kw)


def _snapshot(store):
    got = store.collection().get(include=["documents", "metadatas", "embeddings"])
    return got["ids"], got["documents"], got["metadatas"], [list(e) for e in got["embeddings"]]


def test_second_ingest_embeds_nothing_and_changes_nothing(index_copy, embedder):
    store = IndexStore.open(index_copy)
    before = store.manifest()
    snapshot = _snapshot(store)

    def must_not_embed():
        raise AssertionError("the embedder was asked for on an unchanged handbook")

    report = ingest_handbook(HANDBOOK, store, must_not_embed, embedding_model_name(embedder.path), progress=False)
    assert not report.rebuilt
    assert store.manifest() == before
    assert _snapshot(IndexStore.open(index_copy)) == snapshot


def test_changed_handbook_rebuilds(index_copy, embedder, tmp_path, handbook_text):
    changed = tmp_path / "handbook.md"
    changed.write_text(handbook_text + "\n## Section 99 — Extra\n\n### Brand New\n\nQuantum widgets explained.\n")
    store = IndexStore.open(index_copy)
    old = store.manifest()
    report = _ingest(store, embedder, handbook=changed)
    assert report.rebuilt
    new = store.manifest()
    assert new.collection != old.collection and new.handbook_sha256 != old.handbook_sha256
    assert new.chunks == old.chunks + 1
    docs = store.collection().get(where={"section": "Section 99 — Extra > Brand New"})
    assert docs["documents"] == ["Quantum widgets explained."]
    names = [c if isinstance(c, str) else c.name for c in store.client.list_collections()]
    assert sum(n.startswith("hbrag_chunks_") for n in names) == 2  # the previous build stays for readers


def test_interrupted_rebuild_leaves_the_old_index_answering(index_copy, embedder, tmp_path, handbook_text):
    changed = tmp_path / "handbook.md"
    changed.write_text(handbook_text.replace("Bias-Variance Tradeoff", "Bias Variance Trade-off"))
    store = IndexStore.open(index_copy)
    old = store.manifest()
    calls = 0

    class Exploding:
        path = embedder.path

        def embed_documents(self, texts):
            nonlocal calls
            calls += 1
            if calls == 3:
                raise KeyboardInterrupt("interrupted mid-way")
            return embedder.embed_documents(texts)

    with pytest.raises(KeyboardInterrupt):
        ingest_handbook(changed, store, Exploding, embedding_model_name(embedder.path), progress=False)
    reopened = IndexStore.open(index_copy)
    assert reopened.manifest() == old
    assert reopened.collection().count() == old.chunks
    hit = reopened.collection().query(query_embeddings=[embedder.embed_query("bias variance")], n_results=1)
    assert hit["ids"][0]
    names = [c if isinstance(c, str) else c.name for c in reopened.client.list_collections()]
    assert sum(n.startswith("hbrag_chunks_") for n in names) == 1  # the half-built one was dropped


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"just some words, no headings at all\n", "no `## ` sections"),
        ("## Caf\u00e9\n\ntext".encode("latin-1"), "not UTF-8"),
    ],
)
def test_bad_handbooks_are_refused_and_the_index_kept(index_copy, embedder, tmp_path, content, message):
    bad = tmp_path / "bad.md"
    bad.write_bytes(content)
    store = IndexStore.open(index_copy)
    old = store.manifest()
    with pytest.raises(HbragError, match=message):
        _ingest(store, embedder, handbook=bad)
    assert IndexStore.open(index_copy).manifest() == old


def test_index_dir_that_is_a_file(tmp_path):
    path = tmp_path / "index"
    path.write_text("not a directory")
    with pytest.raises(HbragError, match="is a file"):
        IndexStore.open(path)


def test_manifest_records_what_the_index_was_built_from(built_index, embedder):
    manifest = IndexStore.open(built_index).manifest()
    assert manifest.embedding_model == "all-MiniLM-L6-v2"
    assert len(manifest.handbook_sha256) == 64
    assert manifest.chunks > 100 and manifest.sections > 80
