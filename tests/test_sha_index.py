"""The change derivation's sha look-ups (`changes._Shas`): numpy arrays instead of a Python list and
dict, checked against those on random shas, abbreviations, missing and mixed-length ones."""

import bisect
import random

import pyarrow as pa
import pytest

from loopmeter.store.changes import _resolve_prefix, _Shas


def _shas(n: int, rng: random.Random, width: int = 40) -> list[str]:
    return list({"".join(rng.choice("0123456789abcdef") for _ in range(width)) for _ in range(n)})


def _check(shas: list[str], rng: random.Random) -> None:
    col = pa.chunked_array([shas[: len(shas) // 2], shas[len(shas) // 2:]], pa.string())
    s = _Shas(col)
    index, srt = {x: i for i, x in enumerate(shas)}, sorted(shas)
    assert [s[i] for i in range(len(shas))] == shas
    absent = [x[:-1] + ("0" if x[-1] != "0" else "1") for x in shas[:50]]
    absent = [x for x in absent if x not in index] + ["", "zz", "f" * 70]
    for x in shas[:200] + absent:
        assert s.find(x) == index.get(x, -1)
        assert (x in s) == (x in index)
        if x in index:
            assert s.index(x) == index[x]
        else:
            with pytest.raises(KeyError):
                s.index(x)
    asked = shas + absent
    assert s.find_all(pa.array(asked, pa.string())).tolist() == [index.get(x, -1) for x in asked]
    for x in shas[:200]:
        for k in (1, 2, 4, 7, 12):
            p = x[:k]
            i = bisect.bisect_left(srt, p)
            want = [y for y in srt[i:i + 2] if y.startswith(p)]
            assert s.with_prefix(p) == want
            assert _resolve_prefix(s, p) == (want[0] if len(want) == 1 else None)


def test_sha_lookups_match_a_list_and_a_dict():
    rng = random.Random(14)
    _check(_shas(3000, rng), rng)


def test_sha_lookups_with_mixed_lengths_and_sha256():
    rng = random.Random(15)
    _check(_shas(300, rng, 64) + _shas(300, rng, 40) + ["abc"], rng)


def test_sha_lookups_on_no_commits():
    s = _Shas(pa.chunked_array([], pa.string()))
    assert len(s) == 0 and s.find("abc") == -1 and s.with_prefix("a") == []
    assert s.find_all(pa.array(["abc"], pa.string())).tolist() == [-1]
