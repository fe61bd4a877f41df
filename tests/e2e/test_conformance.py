"""The shared black-box conformance checks, run against this checkout (the floor, not the finish)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "run.py"

pytestmark = pytest.mark.e2e


def test_shared_conformance_checks_pass(services):
    if not RUN.exists():
        pytest.skip(f"no shared conformance checks at {RUN} (they live beside the checkout in CI)")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    r = subprocess.run([sys.executable, str(RUN)], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


@pytest.mark.parametrize("group", ["binary"])
def test_2026_12_04_conformance_groups_this_build_passes(services, group):
    if not RUN.exists():
        pytest.skip(f"no shared conformance checks at {RUN} (they live beside the checkout in CI)")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    r = subprocess.run([sys.executable, str(RUN), "-k", group], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0 and " 0 failed" in r.stdout, r.stdout[-4000:] + r.stderr[-2000:]
