"""Golden detector cases, one YAML file each in ``tests/golden/detectors`` (titanlib's
``tests/files/*.yml`` style): a small synthetic network, the edits that plant one kind of
interference, the detector and its parameters, and what must fire and what must stay quiet.

Adding a case is adding a file; the format is described in ``tests/golden/detectors/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.analytics import factories as f

CASE_DIR = Path(__file__).resolve().parents[1] / "golden" / "detectors"
CASE_FILES = sorted(CASE_DIR.glob("*.yaml"))
REQUIRED_KEYS = {"description", "detector", "fires", "quiet"}


def load_case(path: Path) -> dict:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = REQUIRED_KEYS - set(case)
    assert not missing, f"{path.name}: missing key(s) {sorted(missing)}"
    return case


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_golden_case(path):
    case = load_case(path)
    r, st = f.case_inputs(case)
    panel = f.make_panel(r, st)
    out = f.run_detector(case["detector"], panel, **case.get("params", {}))
    f.assert_detector_contract(case["detector"], out, panel)
    for check in case["fires"]:
        f.assert_fires(out, panel, check)
    for check in case["quiet"]:
        f.assert_quiet(out, panel, check)


def test_every_detector_family_has_a_golden_case():
    families = {f.registry().get(load_case(p)["detector"]).family for p in CASE_FILES}
    all_families = {f.registry().get(n).family for n in f.registry().names()}
    assert families == all_families, f"no golden case for {sorted(all_families - families)}"
