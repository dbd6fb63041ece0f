"""Re-ingesting while the assistant serves: the running process follows the pointer to the new build
between questions, a question in flight completes, and the index directory does not grow with rebuilds."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from ingest.index import PREFIX, IndexStore
from tests.conftest import HANDBOOK, HBRAG, free_port
from tests.servers import Server, chroma_server

pytestmark = pytest.mark.slow

ADDED = (
    "\n## Section 99 — Rebuild Test\n\n### Quantum Widgets\n\n"
    "A quantum widget is a made-up gadget that the live-index test adds to the handbook.\n"
)
QUESTION = "What is a quantum widget?"


def _env(cli_env: dict[str, str], index: Path, handbook: Path) -> dict[str, str]:
    return {**cli_env, "HBRAG_INDEX_DIR": str(index), "HBRAG_HANDBOOK": str(handbook)}


def _ingest(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HBRAG, "ingest", "--rebuild", *extra], env=env, capture_output=True, text=True, timeout=300)


def _folders(index: Path) -> list[str]:
    def is_uuid(name: str) -> bool:
        try:
            uuid.UUID(name)
        except ValueError:
            return False
        return True

    return sorted(p.name for p in index.iterdir() if p.is_dir() and is_uuid(p.name))


def _chunk_collections(store: IndexStore) -> list[str]:
    return [
        n
        for n in (c if isinstance(c, str) else c.name for c in store.client.list_collections())
        if n.startswith(PREFIX)
    ]


def test_the_web_chat_follows_a_rebuild_in_another_process(index_copy, cli_env, tmp_path):
    handbook = tmp_path / "handbook.md"
    handbook.write_text(HANDBOOK.read_text(encoding="utf-8"), encoding="utf-8")
    env = _env(cli_env, index_copy, handbook)
    port = free_port()
    ui = Server([sys.executable, "-m", "ui.cli", "ui", "--port", "{port}"], "/", port=port)
    ui.proc = subprocess.Popen(
        [*HBRAG, "ui", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        from tests.servers import _wait

        _wait(ui.health, ui.proc, timeout=180)
        from gradio_client import Client

        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        before = client.predict(QUESTION, 24, api_name="/ask")
        assert "error" not in before and "made-up gadget" not in json.dumps(before)

        handbook.write_text(HANDBOOK.read_text(encoding="utf-8") + ADDED, encoding="utf-8")
        # A question in flight while the rebuild runs completes from the build it started on.
        in_flight: dict = {}
        asking = threading.Thread(
            target=lambda: in_flight.update(client.predict("What is dropout?", 64, api_name="/ask"))
        )
        asking.start()
        rebuilt = _ingest(env)
        asking.join(timeout=300)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert in_flight.get("answer") and "error" not in in_flight

        after = client.predict(QUESTION, 24, api_name="/ask")
        assert "error" not in after, after
        assert any("made-up gadget" in e["text"] for e in after["evidence"])
        assert after["index_build"] != before["index_build"]
        again = client.predict("What is dropout?", 24, api_name="/ask")
        assert "error" not in again and again["evidence"]
    finally:
        ui.stop()


def test_rebuilds_keep_the_live_build_and_one_previous_only(index_copy, cli_env):
    env = _env(cli_env, index_copy, HANDBOOK)
    for _ in range(4):
        done = _ingest(env)
        assert done.returncode == 0, done.stderr
    store = IndexStore.open(index_copy)
    names = _chunk_collections(store)
    assert len(names) == 2 and store.manifest().collection in names
    assert len(_folders(index_copy)) <= 2  # one vector folder per kept build, none left behind


def test_a_second_writer_is_refused_with_one_line(index_copy, cli_env):
    store = IndexStore.open(index_copy)
    with store._write_lock():
        done = _ingest(_env(cli_env, index_copy, HANDBOOK))
    assert done.returncode == 1
    assert "another `hbrag ingest` is writing the index" in done.stderr and "Traceback" not in done.stderr
    assert store.manifest() is not None


def test_a_reader_follows_a_rebuild_on_a_chroma_server(tmp_path, cli_env, embedder):
    from ingest.embeddings import embedding_model_name
    from ingest.pipeline import ingest_handbook
    from rag.retrieve import RetrievalOptions, Retriever

    server = chroma_server(tmp_path / "chroma").start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        first = _ingest({**cli_env, "HBRAG_CHROMA_URL": url})
        assert first.returncode == 0, first.stderr
        reader = Retriever(IndexStore.open(chroma_url=url), embedder)
        old_build = reader.build
        changed = tmp_path / "h.md"
        changed.write_text(HANDBOOK.read_text(encoding="utf-8") + ADDED, encoding="utf-8")
        writer = IndexStore.open(chroma_url=url)
        for _ in range(2):  # twice: the reader's own build is gone, not just superseded
            ingest_handbook(
                changed, writer, lambda: embedder, embedding_model_name(embedder.path), progress=False, rebuild=True
            )
        found = reader.search(QUESTION, RetrievalOptions(k=3))  # retries once on the vanished build
        assert reader.build != old_build
        assert any("quantum widget" in h.chunk.text.lower() for h in found.hits)
        assert len(_chunk_collections(writer)) == 2
    finally:
        server.stop()
