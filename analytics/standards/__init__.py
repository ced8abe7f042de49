"""The environmental standards, implemented once: HJ 633 AQI, GB 3095 air limits and validity,
GB 3838 water classes, HJ 75 / GB 13223 flue-gas (CEMS) rules, and the assessment substitution rule.

Modules: :mod:`.aqi`, :mod:`.air_quality`, :mod:`.water`, :mod:`.cems`, :mod:`.penalty`.
Facts and their verification status: ``docs/standards.md``.
"""
