"""docker-compose.yml and the Dockerfile, checked as files (no docker on this machine)."""

from __future__ import annotations

import re

import yaml

from rag_core.config import Settings

from .conftest import REPO
from .test_readme_settings import env_names


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def pinned(package: str) -> str:
    text = (REPO / "constraints.txt").read_text()
    match = re.search(rf"^{re.escape(package)}==(\S+)$", text, re.MULTILINE)
    assert match, f"{package} is not pinned in constraints.txt"
    return match.group(1)


def test_compose_runs_the_app_on_a_chroma_server_and_postgresql():
    services = compose()["services"]
    assert set(services) == {"app", "chroma", "postgres"}
    assert services["chroma"]["image"] == f"chromadb/chroma:{pinned('chromadb')}"
    assert services["postgres"]["image"] == "postgres:15"
    env = services["app"]["environment"]
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://folio:")
    assert env["DATABASE_URL"].endswith("@postgres:5432/folio")
    assert (env["CHROMA_HOST"], env["CHROMA_PORT"]) == ("chroma", "8000")
    assert services["app"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["app"]["build"]["args"]["TORCH_VARIANT"] == "${TORCH_VARIANT:-cpu}"


def test_compose_sets_only_variables_folio_reads():
    known = {name for field in Settings.model_fields for name in env_names(field)}
    app_env = set(compose()["services"]["app"]["environment"])
    assert sorted(app_env - known) == []


def test_every_service_keeps_its_data_in_a_declared_volume():
    spec = compose()
    declared = set(spec["volumes"])
    mounts = {
        service: [m.split(":")[0] for m in body.get("volumes", [])]
        for service, body in spec["services"].items()
    }
    assert mounts == {
        "app": ["folio-data"],
        "chroma": ["chroma-data"],
        "postgres": ["postgres-data"],
    }
    assert {m for found in mounts.values() for m in found} == declared
    chroma = spec["services"]["chroma"]
    assert chroma["command"][chroma["command"].index("--path") + 1] == "/data"
    assert "chroma-data:/data" in chroma["volumes"]


def test_dockerfile_is_cpu_by_default_and_cuda_by_build_argument():
    text = (REPO / "Dockerfile").read_text()
    assert "ARG TORCH_VARIANT=cpu" in text
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/${TORCH_VARIANT}" in text
    torch = re.search(r"pip install --no-cache-dir torch==(\S+) --index-url", text)
    assert torch and torch.group(1) == pinned("torch")
    assert "-r requirements.txt -c constraints.txt" in text
    # Every package app.py imports from the repository is copied into the image.
    app = (REPO / "app.py").read_text()
    local = {
        m for m in re.findall(r"^(?:from|import) (\w+)", app, re.MULTILINE) if (REPO / m).is_dir()
    }
    copied = set(re.findall(r"^COPY (\w+) \./\1$", text, re.MULTILINE))
    assert local and local <= copied, f"COPY missing for {sorted(local - copied)}"
