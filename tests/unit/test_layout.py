"""The architecture as tests: layer boundaries (import-linter), lint and format (ruff), the handler
table, and the named SQL. They run in the suite so CI enforces them, not only `make lint`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import INBOUND
from services.core.lifecycle import HANDLERS
from services.store.queries import Q

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return str(path)


def test_layers_hold():
    """The core does no I/O and imports no adapter; adapters never import the entry points."""
    r = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]


def test_ruff_lint_and_format_are_clean():
    lint = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-3000:]
    fmt = subprocess.run([_tool("ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout[-3000:]


def test_every_inbound_type_has_its_handler():
    assert set(HANDLERS) == set(INBOUND)


def test_every_named_query_is_used_and_every_use_is_defined():
    used: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        used |= set(re.findall(r'Q\["([a-z_0-9]+)"\]', path.read_text()))
        for a, b in re.findall(r'Q\["([a-z_0-9]+)" if .*? else "([a-z_0-9]+)"\]', path.read_text()):
            used |= {a, b}
    assert used - set(Q) == set(), "used but not defined in services/store/queries/*.sql"
    assert set(Q) - used == set(), "defined but never used"


def test_kpi_queries_list_the_counter_columns_in_order():
    """services.store.kpis reads the counters of these queries by position, in COUNTER_COLUMNS order."""
    from services.core.metrics_math import COUNTER_COLUMNS as cols

    flat = {name: " ".join(Q[name].split()) for name in ("platform_kpis", "merchant_kpi_rows", "merchant_policy_days")}
    assert "select w.at, " + ", ".join(f"coalesce(sum(d.{c}), 0)" for c in cols) + ", (" in flat["platform_kpis"]
    assert flat["merchant_kpi_rows"].count("select merchant_id, day, " + ", ".join(cols) + " from") == 2
    assert "select policy, day, " + ", ".join(f"sum({c})" for c in cols) + " from" in flat["merchant_policy_days"]


def test_types_check():
    """mypy: strict on the pure core, checked (untyped bodies included) everywhere else (pyproject)."""
    r = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]


def test_every_setting_is_documented_once_in_the_readme():
    names = set(re.findall(r'"(TICKETFLOW_[A-Z_]+)"', (ROOT / "services" / "config.py").read_text()))
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(TICKETFLOW_[A-Z_]+)` \|", readme, re.M)
    assert names <= set(rows), f"add to README 'Configuration': {sorted(names - set(rows))}"
    assert len(rows) == len(set(rows)), "a setting listed twice"


def test_the_lock_file_pins_every_dependency():
    """CI and the image install with `-c requirements.lock`; a dependency missing from it would float."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in ("test", "demo"):
        wanted += project["optional-dependencies"][extra]
    norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
    pinned = {norm(m) for m in re.findall(r"^([A-Za-z0-9_.-]+)==", (ROOT / "requirements.lock").read_text(), re.M)}
    names = {norm(re.match(r"[A-Za-z0-9_.-]+", w).group()) for w in wanted}
    assert names <= pinned, f"run `make lock`: not pinned: {sorted(names - pinned)}"
