"""HJ 212 pollutant codes -> envtrust parameters, per system (ST) code.

One HJ 212 code means different things on different networks: ``a21026`` is ambient SO2 in
ug/m3 at an air station (ST 22) but flue-gas SO2 in mg/m3 at a stack (ST 31); ``w21003`` is
surface-water ammonia (ST 21) or effluent ammonia (ST 32). So the lookup is keyed by the ST
code, and the canonical names come from ``analytics.vocabulary.PARAMETERS[...].hj212_codes``
(2017 codes and the 2005-era codes devices still send, e.g. ``011`` for COD, ``B01`` for
wastewater flow, ``S01`` for O2).

Only measured values are stored. HJ 212 also carries ``Zs*`` values (折算, converted to the
reference O2 of the emission standard). They are derived, not measured: Zs = C x (21 - O2ref) /
(21 - O2meas) (HJ 75-2017). Storing them next to the measured value would keep two numbers for
one observation that can disagree - and a converted value that disagrees with its own measured
concentration and O2 is itself a sign of tampering. We store the measured concentration and
O2 and compute the converted value on read (``analytics.standards.cems.o2_corrected_mg_m3``
with the station's ``ref_o2_pct``), so the limit check and a consistency check both use the
numbers the analyser produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from analytics.vocabulary import PARAMETERS

# ST code -> the parameter networks its packets carry (standards.md 1.5).
ST_NETWORKS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "21": ("water",),          # surface-water quality station
    "22": ("air", "met"),      # ambient air quality station
    "31": ("flue",),           # atmospheric pollution source (flue gas CEMS)
    "32": ("wastewater",),     # water pollution source (effluent)
})

# ST code -> station kinds (stations.kind, stations.outlet_type) a packet of that ST may come from.
ST_STATION_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "21": ("water_section",),
    "22": ("air_station", "air_micro"),
    "31": ("polluter_outlet",),
    "32": ("polluter_outlet",),
})
ST_OUTLET_TYPES: Mapping[str, str] = MappingProxyType({"31": "flue_gas", "32": "wastewater"})

# Factors from the HJ 212-2017 annex unit to our canonical unit (analytics/vocabulary.py).
# Flow: a00000 waste gas is m3/s and w00000 wastewater L/s in HJ 212-2017; we store m3/h.
# Checked on real packets: B02-Avg=3.0586 (m3/s) with B02-Cou=11010.8 m3 per hour (x3600), and
# B01-Avg=208.01 (L/s) with B01-Cou=748.84 m3 per hour (x3.6). Air pressure a01006 is kPa, PRES hPa.
# Ambient-air concentrations (ST 22) are taken as ug/m3 (CO mg/m3), as the real air-station
# packets in standards.md 1.10 are; the annex's ng/m3 entries are known to be unreliable.
UNIT_FACTORS: Mapping[str, float] = MappingProxyType({
    "flue_flow": 3600.0,
    "ww_flow": 3.6,
    "PRES": 10.0,
})


@dataclass(frozen=True)
class CodeMapping:
    """How one HJ 212 code on one ST network becomes one of our readings."""

    code: str
    parameter: str
    factor: float  # multiply the packet value by this to get the canonical unit


def _build_table(st: str) -> dict[str, CodeMapping]:
    networks = ST_NETWORKS[st]
    table: dict[str, CodeMapping] = {}
    for p in PARAMETERS.values():
        if p.network not in networks:
            continue
        for code in p.hj212_codes:
            table[code] = CodeMapping(code, p.name, UNIT_FACTORS.get(p.name, 1.0))
    return table


def code_table(st: str) -> dict[str, CodeMapping]:
    """All codes understood on system ``st`` (a fresh dict: callers may keep or change it)."""
    if st not in ST_NETWORKS:
        raise KeyError(f"ST {st!r} carries no readings we store; known: {', '.join(ST_NETWORKS)}")
    return _build_table(st)


@cache
def cached_code_table(st: str) -> Mapping[str, CodeMapping]:
    """Read-only :func:`code_table`, built once per ST (the vocabulary does not change at run time)."""
    return MappingProxyType(code_table(st))


def map_code(st: str, code: str) -> CodeMapping | None:
    """The parameter that ``code`` means on system ``st`` or None if we do not store it."""
    return cached_code_table(st).get(code) if st in ST_NETWORKS else None


def hj212_code_for(parameter: str, old_codes: bool = False) -> str:
    """The code our simulator writes for ``parameter``: the 2017 code, or the 2005-era one."""
    codes = PARAMETERS[parameter].hj212_codes
    if not codes:
        raise KeyError(f"parameter {parameter!r} has no HJ 212 code")
    modern = [c for c in codes if c[0].isalpha() and c[1:].isdigit() and len(c) == 6]
    old = [c for c in codes if c not in modern]
    if old_codes and old:
        return old[0]
    return modern[0] if modern else codes[0]


def st_for_parameters(parameters: list[str] | tuple[str, ...]) -> str:
    """The ST code of a set of parameters (all must belong to one network family)."""
    networks = {PARAMETERS[p].network for p in parameters}
    for st, nets in ST_NETWORKS.items():
        if networks and networks <= set(nets):
            return st
    raise ValueError(f"parameters {sorted(parameters)} do not belong to one HJ 212 system (ST)")


def station_matches_st(st: str, kind: str, outlet_type: str | None) -> bool:
    """Whether a station of ``kind``/``outlet_type`` may send packets with system code ``st``."""
    if kind not in ST_STATION_KINDS.get(st, ()):
        return False
    want = ST_OUTLET_TYPES.get(st)
    return want is None or outlet_type in (None, "", want)
