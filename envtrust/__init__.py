"""envtrust: which environmental monitoring data can regulators trust?

The distribution's front door: :mod:`envtrust.cli` (the ``envtrust`` command) and
:mod:`envtrust.settings` (one settings object). The work itself lives in the top-level
packages ``data`` (DuckDB store, ingest, HJ 212), ``analytics`` (pure detectors and
standards), ``geo`` (layers, coordinates, neighbours) and ``dashboard`` (Dash app).
"""

__version__ = "0.1.0"
