"""``/api/v1/sources`` over real workspaces, a real folder and the hashing embedder."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag_core.config import Settings
from rag_core.ingest.lock import IngestLock

from .api_helpers import build_api
from .test_sources import FILES, in_line, write


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", db=tmp_path / "f.db", source_settle_seconds=0)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    write(folder, "apples.md", "# Apples\n\nThe apple harvest rose to 120 tonnes in 2020.")
    write(folder, "notes/pears.txt", "Pear trees suffered from frost in April.")
    write(folder, "engine.pdf", b"%PDF-1.4 a broken file")
    return folder


@pytest.fixture
def api(settings: Settings):
    app, workspaces, keys = build_api(settings, warm_up=False)
    with TestClient(app) as client:
        yield client, workspaces, keys
    for name in workspaces.opened():
        workspaces.library(name).stop_background()


def test_add_sync_pause_resume_and_remove_a_source(api, folder: Path):
    client, _workspaces, _ = api
    created = client.post("/api/v1/sources", json={"folder": str(folder), "every": 0})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["folder"], body["state"], body["every"]) == (
        "docs",
        str(folder),
        "active",
        0,
    )
    assert body["last_sync"] is None and body["include"][:2] == ["*.pdf", "*.md"]

    synced = client.post("/api/v1/sources/docs/sync")
    assert synced.status_code == 200, synced.text
    report = synced.json()
    assert (report["seen"], report["added"], report["error"]) == (3, 2, "")
    assert [f["path"] for f in report["failed"]] == ["engine.pdf"]
    names = sorted(d["name"] for d in client.get("/api/v1/documents").json()["documents"])
    assert names == ["docs/apples.md", "docs/notes/pears.txt"]

    [listed] = client.get("/api/v1/sources").json()["sources"]
    assert (listed["files"], listed["last_sync"]["added"]) == (3, 2)
    assert listed["failures"][0]["path"] == "engine.pdf"
    assert 0 <= listed["last_sync_age_seconds"] < 60

    paused = client.post("/api/v1/sources/docs/pause").json()
    assert (paused["state"], paused["paused"]) == ("paused", "user")
    refused = client.post("/api/v1/sources/docs/sync")
    assert refused.status_code == 422 and "resume it first" in refused.json()["error"]["message"]
    assert client.post("/api/v1/sources/docs/resume").json()["state"] == "active"

    unsaid = client.delete("/api/v1/sources/docs")
    assert unsaid.status_code == 422 and "documents" in unsaid.json()["error"]["message"]
    removed = client.delete("/api/v1/sources/docs", params={"documents": "remove"})
    assert removed.json() == {"name": "docs", "documents_removed": 2}
    assert client.get("/api/v1/documents").json()["documents"] == []
    assert client.get("/api/v1/sources/docs").status_code == 404


def test_bad_input_is_named(api, folder: Path, tmp_path: Path):
    client, _, _ = api
    for body, field in (
        ({"folder": str(tmp_path / "nope")}, "folder"),
        ({"folder": "relative/path"}, "folder"),
        ({"folder": str(folder), "name": "No Spaces"}, "name"),
        ({"folder": str(folder), "every": -5}, "every"),
        ({"folder": str(folder), "include": ["/abs/*.md"]}, "include"),
    ):
        response = client.post("/api/v1/sources", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["message"].startswith(f"{field}: "), response.json()


def test_a_sync_in_the_background_and_a_busy_workspace(api, folder: Path, settings: Settings):
    client, _workspaces, _ = api
    client.post("/api/v1/sources", json={"folder": str(folder), "every": 0})
    lock = IngestLock(settings.data_dir / "locks" / "default.sources.lock")
    with lock.hold():  # another process syncs this workspace's sources
        busy = client.post("/api/v1/sources/docs/sync")
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "busy"
    started = client.post("/api/v1/sources/docs/sync", params={"background": True})
    assert started.status_code == 202 and started.json()["name"] == "docs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        last = client.get("/api/v1/sources/docs").json()["last_sync"]
        if last is not None:
            break
        time.sleep(0.2)
    assert last is not None and last["added"] == 2


def test_each_key_sees_only_its_workspace_sources(api, folder: Path):
    client, _workspaces, keys = api
    a = {"Authorization": f"Bearer {keys.create('team-a', 'a').token}"}
    b = {"Authorization": f"Bearer {keys.create('team-b', 'b').token}"}
    assert (
        client.post("/api/v1/sources", json={"folder": str(folder)}, headers=a).status_code == 201
    )
    assert client.get("/api/v1/sources", headers=b).json() == {"sources": []}
    for call in (
        lambda: client.post("/api/v1/sources/docs/sync", headers=b),
        lambda: client.delete("/api/v1/sources/docs", params={"documents": "keep"}, headers=b),
        lambda: client.post("/api/v1/sources/docs/pause", headers=b),
    ):
        assert call().status_code == 404
    assert client.post("/api/v1/sources/docs/sync", headers=a).json()["added"] == 2
    assert client.get("/api/v1/documents", headers=b).json()["documents"] == []


def test_an_exposed_server_adds_folders_only_inside_its_roots(tmp_path: Path, folder: Path):
    exposed = Settings(data_dir=tmp_path / "data", db=tmp_path / "f.db", host="0.0.0.0")
    app, _, keys = build_api(exposed, warm_up=False)
    key = {"Authorization": f"Bearer {keys.create('default', 'k').token}"}
    with TestClient(app) as client:
        refused = client.post("/api/v1/sources", json={"folder": str(folder)}, headers=key)
    assert refused.status_code == 422
    assert "FOLIO_SOURCE_ROOTS" in refused.json()["error"]["message"]

    allowed = exposed.model_copy(update={"source_roots": str(folder.parent / "allowed")})
    write(folder.parent, "allowed/ok/a.md", "Inside the allowed folder.")
    app, _, keys = build_api(allowed, warm_up=False)
    key = {"Authorization": f"Bearer {keys.create('default', 'k2').token}"}
    with TestClient(app) as client:
        outside = client.post("/api/v1/sources", json={"folder": str(folder)}, headers=key)
        inside = client.post(
            "/api/v1/sources", json={"folder": str(folder.parent / "allowed/ok")}, headers=key
        )
    assert outside.status_code == 422 and "not inside" in outside.json()["error"]["message"]
    assert inside.status_code == 201


def test_metrics_show_each_source(api, folder: Path):
    client, workspaces, _ = api
    client.post("/api/v1/sources", json={"folder": str(folder), "every": 0})
    text = client.get("/metrics").text
    assert 'folio_source_files{source="docs",workspace="default"} 0.0' in text
    assert "folio_source_last_sync_age_seconds{" not in text  # never synced yet
    client.post("/api/v1/sources/docs/sync")
    text = client.get("/metrics").text
    for line in (
        'folio_source_files{source="docs",workspace="default"} 3.0',
        'folio_source_failed_files{source="docs",workspace="default"} 1.0',
        'folio_source_paused{source="docs",workspace="default"} 0.0',
    ):
        assert line in text, line
    age = next(x for x in text.splitlines() if x.startswith("folio_source_last_sync_age_seconds{"))
    assert 0 <= float(age.split()[-1]) < 60
    library = workspaces.library("default")
    in_line(library, folder, [f for f in FILES if f != "engine.pdf"])


def test_openapi_lists_the_sources_routes(api):
    client, _, _ = api
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"/api/v1/sources", "/api/v1/sources/{name}", "/api/v1/sources/{name}/sync"} <= set(
        paths
    )
    assert set(paths["/api/v1/sources/{name}"]) == {"get", "delete"}
