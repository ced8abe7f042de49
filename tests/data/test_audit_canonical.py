"""The record's canonical JSON is RFC 8785 (JCS): the fast path agrees with the `rfc8785` package
byte for byte on every value it takes, and the package handles the rest (floats, odd keys)."""

from __future__ import annotations

import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.audit import _plain_json, canonical_json

SAFE = 2**53 - 1
scalars = st.none() | st.booleans() | st.integers(-SAFE, SAFE) | st.text()
plain = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                     | st.dictionaries(st.text(st.characters(max_codepoint=127)), inner, max_size=5), max_leaves=20)
anything = st.recursive(scalars | st.floats(allow_nan=False, allow_infinity=False),
                        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
                        max_leaves=20)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain)
def test_fast_path_is_byte_identical_to_rfc8785(value):
    assert _plain_json(value)
    assert canonical_json(value).encode("utf-8") == rfc8785.dumps(value)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(anything)
def test_every_value_is_rfc8785(value):
    assert canonical_json(value).encode("utf-8") == rfc8785.dumps(value)


def test_rfc8785_examples():
    """Number forms and key order from RFC 8785 section 3.2.3 / appendix B take the package path."""
    assert canonical_json({"b": 1e21, "a": 0.1, "c": -0.0}) == '{"a":0.1,"b":1e+21,"c":0}'
    assert canonical_json({"\u20ac": 1, "\r": 2, "\U0001f600": 3, "\ufb33": 4}) == \
        '{"\\r":2,"\u20ac":1,"\U0001f600":3,"\ufb33":4}'
    assert canonical_json({"z": "\u2028\x1f\"\\", "a": [True, None]}) == '{"a":[true,null],"z":"\u2028\\u001f\\"\\\\"}'
