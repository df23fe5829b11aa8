"""metrics/portable.naive_utc: timestamps as an engine hands them over (zoned, naive, objects, with
gaps) become naive UTC datetime64[ns] with the same instants."""

import datetime as dt

import pandas as pd

from loopmeter.metrics.portable import naive_utc

WANT = ["2026-03-01 10:30:00", "2026-03-02 00:00:00.000001", "NaT"]


def test_zoned_values_are_converted_to_utc_then_made_naive():
    local = pd.to_datetime(["2026-03-01 11:30:00", "2026-03-02 01:00:00.000001", None], format="ISO8601")
    berlin = pd.Series(local.tz_localize("Europe/Berlin"))
    got = naive_utc(berlin)
    assert str(got.dtype) == "datetime64[ns]"
    assert [str(v) for v in got] == WANT


def test_naive_and_object_values_are_kept_as_utc():
    objs = pd.Series([dt.datetime(2026, 3, 1, 10, 30), dt.datetime(2026, 3, 2, 0, 0, 0, 1), None], dtype=object)
    micro = pd.Series(pd.to_datetime(WANT[:2] + [None], format="ISO8601")).astype("datetime64[us]")
    for values in (objs, micro):
        got = naive_utc(values)
        assert str(got.dtype) == "datetime64[ns]"
        assert [str(v) for v in got] == WANT
