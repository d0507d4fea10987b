"""deploy/: Prometheus alert rules (checked and unit-tested with promtool), the Prometheus
config, the Grafana dashboard and their wiring in docker-compose.yml.

promtool comes with Debian's ``prometheus`` package (``scripts/install-system-deps.sh``).
Without it these tests fail, unless ``FOLIO_ALLOW_NO_PROMTOOL=1`` lets them skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api.observability import ApiMetrics
from rag_core.vision.index import oldest_waiting

from .conftest import REPO

DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "folio-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "folio-alerts.test.yml"
CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "folio-dashboard.json"
PROVISIONING = DEPLOY / "grafana" / "provisioning"

# Named by the rules and the dashboard before Folio exports them; remove each entry when its
# feature lands (the test below then checks the name against the real export).
NOT_YET_EXPORTED: dict[str, str] = {}
# Series Prometheus writes itself for every scrape target.
PROMETHEUS_SERIES = {"up"}
# Read at import: the autouse fixture in conftest.py clears FOLIO_* variables for each test.
ALLOW_NO_PROMTOOL = os.environ.get("FOLIO_ALLOW_NO_PROMTOOL", "") == "1"


# promtool ------------------------------------------------------------------------------------
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if ALLOW_NO_PROMTOOL:
            pytest.skip("promtool is missing (FOLIO_ALLOW_NO_PROMTOOL=1)")
        pytest.fail(
            "promtool is missing: run ./scripts/install-system-deps.sh (it installs Debian's"
            " prometheus package), or set FOLIO_ALLOW_NO_PROMTOOL=1 to skip these checks",
            pytrace=False,
        )
    return path


def run_promtool(*args: str | Path, cwd: Path = REPO) -> str:
    command = [promtool(), *map(str, args)]
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command[1:])} exited {result.returncode}:\n{output}"
    return output


def test_alert_rules_pass_promtool_check():
    output = run_promtool("check", "rules", RULES.relative_to(REPO))
    assert "SUCCESS" in output, output


def test_alert_rules_pass_their_promtool_unit_tests():
    output = run_promtool("test", "rules", RULE_TESTS.relative_to(REPO))
    assert "SUCCESS" in output, output


def test_prometheus_config_passes_promtool_check_and_loads_the_rules():
    output = run_promtool("check", "config", CONFIG.relative_to(REPO))
    assert "SUCCESS" in output and RULES.name in output, output


# The rules -----------------------------------------------------------------------------------
def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_alert_has_a_duration_a_severity_and_annotations():
    rules = alert_rules()
    assert len(rules) >= 8
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names repeat"
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule
        assert 'job="folio"' in rule["expr"], f"{rule['alert']} does not select the folio job"


def test_the_alerts_cover_errors_latency_ingest_backlogs_and_readiness():
    text = " ".join(rule["expr"] for rule in alert_rules())
    for needed in (
        "folio_http_errors_total",
        "folio_http_requests_total",
        "folio_http_request_seconds_bucket",
        'stage="retrieve"',
        'stage="answer"',
        "folio_documents_failed",
        "folio_vision_backlog_oldest_seconds",
        "folio_ocr_backlog_oldest_seconds",
        'up{job="folio"} == 0',
    ):
        assert needed in text, needed


def test_every_alert_is_unit_tested_firing_and_quiet():
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == [RULES.name]
    fires, quiet = set(), set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert sorted(names - fires) == [], "alerts never shown firing"
    assert sorted(names - quiet) == [], "alerts never shown quiet on healthy input"


# Metric names --------------------------------------------------------------------------------
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """The series names Folio's ``/metrics`` can carry, from its registry in this process."""
    text = generate_latest(ApiMetrics(lambda: []).registry).decode()
    names = {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SAMPLE_SUFFIXES[family.type]
    }
    assert "folio_http_requests_total" in names and "folio_documents_failed" in names
    return names


PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "offset", "bool"}
PROMQL_WORDS |= {"group_left", "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a small lexer, enough for our queries)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    # grouping labels (``sum by (route) (x)`` then reads as the call ``sum (x)``)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    expr = re.sub(r"\blabel_values\(([^,()]*),\s*\w+\s*\)", r"(\1)", expr)  # Grafana's
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", expr):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def test_the_promql_lexer_finds_metric_names():
    expr = (
        "histogram_quantile(0.95, sum by (route, le) (rate(folio_http_request_seconds_bucket"
        '{job="folio", route!~"/metrics|up"}[5m]))) > 30 and on (route) up == 0'
        " or max by (workspace) (folio_documents_failed offset 30m)"
        ' / label_values(folio_documents{workspace=~"$workspace"}, workspace)'
    )
    assert metric_names(expr) == {
        "folio_http_request_seconds_bucket",
        "up",
        "folio_documents_failed",
        "folio_documents",
    }


def known(exported: set[str]) -> set[str]:
    not_yet = set(NOT_YET_EXPORTED)
    assert not (not_yet & exported), (
        f"{sorted(not_yet & exported)} are exported now: remove them from NOT_YET_EXPORTED"
    )
    return exported | not_yet | PROMETHEUS_SERIES


def test_the_alert_rules_name_only_metrics_folio_exports(exported):
    for rule in alert_rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert sorted(names - known(exported)) == [], rule["alert"]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    found = []
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found.append((f"variable {variable['name']}", query.get("query", query)))
    return found


def test_dashboard_panels_query_only_metrics_folio_exports(exported):
    queries = dashboard_queries()
    assert len(queries) >= 15
    for where, expr in queries:
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr}"
        assert sorted(names - known(exported)) == [], f"{where}: {expr}"


def test_dashboard_shows_every_exported_folio_metric(exported):
    shown = {name for _, expr in dashboard_queries() for name in metric_names(expr)}
    # _created and _sum/_count of the request histogram add nothing a panel needs.
    wanted = {
        name
        for name in exported
        if not name.endswith("_created") and not name.startswith("folio_http_request_seconds_")
    } | {"folio_http_request_seconds_bucket"}
    assert sorted(wanted - shown) == []


def test_dashboard_promql_parses(tmp_path: Path):
    """Every panel query, as a recording rule, passes ``promtool check rules``."""
    rules = [
        {
            "record": f"folio_dashboard:query_{i}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$workspace", ".*"),
        }
        for i, (_, expr) in enumerate(dashboard_queries())
        if not expr.startswith("label_values(")
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert "$" not in path.read_text()
    run_promtool("check", "rules", path)


def test_dashboard_is_a_grafana_dashboard_on_the_provisioned_datasource():
    board = dashboard()
    assert board["schemaVersion"] >= 39 and board["uid"] and board["title"] == "Folio"
    ids = [panel["id"] for panel in panels(board["panels"])]
    assert len(ids) == len(set(ids))
    for panel in panels(board["panels"]):
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    assert "workspace" in variables

    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert (source["type"], source["url"], source["isDefault"]) == (
        "prometheus",
        "http://prometheus:9090",
        True,
    )


# docker-compose.yml --------------------------------------------------------------------------
def monitoring() -> tuple[Path, dict[str, Any]]:
    spec = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    (included,) = spec["include"]
    path = REPO / included
    return path.parent, yaml.safe_load(path.read_text())


def mounts(service: dict[str, Any], base: Path) -> dict[str, str]:
    """Container path -> host path (resolved) or volume name."""
    found = {}
    for mount in service["volumes"]:
        source, target = mount.split(":")[:2]
        found[target] = str((base / source).resolve()) if source.startswith(".") else source
    return found


def test_compose_runs_prometheus_on_the_deploy_config_and_rules():
    base, spec = monitoring()
    prometheus = spec["services"]["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:v2.")
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    found = mounts(prometheus, base)
    assert found["/etc/prometheus"] == str(CONFIG.parent)
    assert found["/prometheus"] in spec["volumes"]
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"]  # no login: localhost only

    config = yaml.safe_load(CONFIG.read_text())
    assert [CONFIG.parent / f for f in config["rule_files"]] == [RULES]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "folio"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["app:7860"]}]
    app = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["app"]
    assert "7860:7860" in app["ports"]


def test_compose_runs_grafana_with_the_dashboard_provisioned():
    base, spec = monitoring()
    grafana = spec["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    found = mounts(grafana, base)
    assert found["/etc/grafana/provisioning"] == str(PROVISIONING)
    assert found["/var/lib/grafana"] in spec["volumes"]
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "folio.yml").read_text())
    (provider,) = providers["providers"]
    folder = provider["options"]["path"]
    assert found[f"{folder}/{DASHBOARD.name}"] == str(DASHBOARD)
    env = grafana["environment"]
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == f"{folder}/{DASHBOARD.name}"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert grafana["ports"] == ["127.0.0.1:3000:3000"]


# folio_vision_backlog_oldest_seconds ---------------------------------------------------------
def fake_library(docs: list[SimpleNamespace], have: set[tuple[str, int]], vision: bool = True):
    status = SimpleNamespace(ready=len(docs), chunks=10, pages=sum(d.pages for d in docs), failed=0)
    pending = sum(d.pages for d in docs) - len(have)
    index = SimpleNamespace(
        status=lambda: SimpleNamespace(progress=SimpleNamespace(remaining=pending)),
        indexer=SimpleNamespace(store=SimpleNamespace(keys=lambda: set(have))),
    )
    return SimpleNamespace(
        status=lambda: status,
        vision_status=lambda: index.status() if vision else None,
        vision_waiting_since=lambda: oldest_waiting(docs, have) if vision else None,
        ocr_status=lambda: None,
        sources=SimpleNamespace(statuses=lambda: []),
        answer_cache=None,
    )


def backlog_age(libraries: list[tuple[str, Any]]) -> dict[str, float]:
    text = generate_latest(ApiMetrics(lambda: libraries).registry).decode()
    (family,) = [
        f
        for f in text_string_to_metric_families(text)
        if f.name == "folio_vision_backlog_oldest_seconds"
    ]
    return {s.labels["workspace"]: s.value for s in family.samples}


def test_vision_backlog_age_is_the_oldest_waiting_document():
    now = datetime.now(UTC)

    def doc(doc_id: str, pages: int, hours: float, kind: str = "pdf") -> SimpleNamespace:
        added = now - timedelta(hours=hours)
        return SimpleNamespace(id=doc_id, kind=kind, status="ready", pages=pages, added_at=added)

    done = doc("done", 2, 72)  # oldest, fully indexed
    waiting = doc("waiting", 3, 2)  # one page of three left
    newer = doc("newer", 1, 1)
    text = doc("notes", 5, 48, kind="txt")  # no page images
    have = {("done", 0), ("done", 1), ("waiting", 0), ("waiting", 1)}
    ages = backlog_age(
        [
            ("default", fake_library([done, waiting, newer, text], have)),
            ("indexed", fake_library([done], {("done", 0), ("done", 1)})),
            ("off", fake_library([waiting], set(), vision=False)),
        ]
    )
    assert set(ages) == {"default", "indexed"}  # absent when the index is off
    assert ages["default"] == pytest.approx(2 * 3600, abs=60)
    assert ages["indexed"] == 0.0
