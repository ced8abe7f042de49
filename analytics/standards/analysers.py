"""How far two honest ambient-air analysers may disagree: the acceptance limits of the continuous
analysers (HJ 654-2013 for SO2, NO2, O3, CO; HJ 653-2013 for PM10 and PM2.5) in the parameter's
own unit.

Why: a station's deviation from what its neighbours predict is evidence of interference only
when it is larger than the error each analyser is allowed when it passes its acceptance test.
In relative terms a night-time O3 of 65 ug/m3 beside a predicted 4 ug/m3 is +1,600%, but 61
ug/m3 is within what two O3 analysers that both meet HJ 654-2013 may read apart (each may be
off by 4% of its 500 nmol/mol full scale, in opposite directions: 2 x 39 ug/m3).

Sources (standards.md has no table of analyser performance; checked this session):
- HJ 654-2013 table of performance indicators, indication error (示值误差): SO2, NO2, CO
  +-2% F.S., O3 +-4% F.S.; 24-h zero drift +-5 nmol/mol (CO +-1 umol/mol). V: the same items and
  values appear in a public instrument-testing application's HJ 654 test table.
- Full scale (测量范围) SO2, NO2, O3 0-500 nmol/mol, CO 0-50 umol/mol: unverified against the
  official text (the sensor-method standard's test table uses the same ranges for SO2, O3, CO).
- HJ 653-2013, PM automatic monitor against the gravimetric reference: intercept (0 +- 10) ug/m3
  (slope 1 +- 0.15): unverified (from general knowledge of the standard).
- Reference state of GB 3095-2012 as amended in 2018 (参比状态: 298.15 K, 101.325 kPa): one mole
  of gas is 24.465 L, so 1 nmol/mol = M / 24.465 ug/m3 (M in g/mol).
"""

from __future__ import annotations

#: litres per mole at the GB 3095-2012 (2018 amendment) reference state, 298.15 K and 101.325 kPa
MOLAR_VOLUME_L = 24.465
#: molar masses, g/mol
MOLAR_MASS_G: dict[str, float] = {"SO2": 64.06, "NO2": 46.01, "O3": 48.00, "CO": 28.01}
#: HJ 654-2013 full scale: nmol/mol (SO2, NO2, O3), umol/mol (CO)
FULL_SCALE: dict[str, float] = {"SO2": 500.0, "NO2": 500.0, "O3": 500.0, "CO": 50.0}
#: HJ 654-2013 indication error (示值误差), share of full scale
INDICATION_ERROR_FS: dict[str, float] = {"SO2": 0.02, "NO2": 0.02, "O3": 0.04, "CO": 0.02}
#: HJ 653-2013 intercept against the gravimetric reference, ug/m3
PM_INTERCEPT_UGM3: dict[str, float] = {"PM2.5": 10.0, "PM10": 10.0}


def indication_error(parameter: str, full_scale: dict[str, float] | None = None,
                     pm_intercept_ugm3: dict[str, float] | None = None) -> float | None:
    """The largest error one analyser may show and still pass its acceptance test, in the
    parameter's unit (ug/m3; CO mg/m3): HJ 654 indication error x full scale, converted at the
    reference state; HJ 653 intercept for PM. None for a parameter without such a limit.
    ``full_scale`` and ``pm_intercept_ugm3`` default to the (unverified) values above."""
    pm = PM_INTERCEPT_UGM3 if pm_intercept_ugm3 is None else pm_intercept_ugm3
    if parameter in pm:
        return pm[parameter]
    scale = FULL_SCALE if full_scale is None else full_scale
    if parameter not in INDICATION_ERROR_FS or parameter not in scale:
        return None
    # nmol/mol x g/mol / (L/mol) = ug/m3; umol/mol (CO) gives mg/m3 the same way
    return INDICATION_ERROR_FS[parameter] * scale[parameter] * MOLAR_MASS_G[parameter] / MOLAR_VOLUME_L


def analyser_disagreement(parameter: str, **limits) -> float | None:
    """How far two analysers that both pass their acceptance test may read apart, in the
    parameter's unit: twice :func:`indication_error` (each may err by it, in opposite directions).
    A station's deviation from its neighbours within it is no evidence of interference."""
    e = indication_error(parameter, **limits)
    return None if e is None else 2.0 * e
