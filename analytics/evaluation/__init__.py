"""Honest measurement of the plausibility engine: inject interference into real data, score it
with envtrust and with naive baselines, and report the same metrics for all of them.

Modules: ``inject`` (interference injectors + truth events), ``baselines`` (naive detectors),
``metrics`` (AP, event recall at an alarm budget, false alarms), ``harness`` (the whole run,
used by ``envtrust evaluate``).
"""
