"""Seeded generators for the parts of the demo network without public data.

- :mod:`data.synthetic.water`: hourly surface-water readings on sections placed by ``geo.sections``.
- :mod:`data.synthetic.micro`: low-cost PM sensors ringing real Beijing stations, derived from
  the real readings with sensor error.
- :mod:`data.synthetic.polluters`: enterprises, CEMS flue-gas and wastewater outlets with
  production schedules, HJ 212 flags and a few planted dishonest outlets (ground truth returned).

All are pure functions (DataFrame out, no I/O), deterministic for a given seed
(``numpy.random.Generator``); ``envtrust.demo`` writes their output through the normal ingest.
See ``docs/demo-network.md`` and ``notebooks/01_demo_network.ipynb``.
"""
