"""The walk-throughs in notebooks/ are shipped executed: every code cell ran, in order, without an
error, so an analyst reading them on a machine without the data still sees the plots."""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_walkthroughs():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert code, "a walk-through without code"
    counts = [c.execution_count for c in code]
    assert all(isinstance(n, int) for n in counts), "a code cell was never run"
    assert counts == sorted(counts), "cells were run out of order"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"error output: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "no plot was rendered"
