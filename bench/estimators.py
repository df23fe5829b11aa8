"""Time loopmeter's estimators and attribution matcher against straightforward versions in the same run.

    /work/venv/bin/python bench/estimators.py [--repeat N]

Each row times loopmeter's code and a baseline that computes the same thing the obvious way, on
the same seeded data, and prints the median wall times and their ratio (loopmeter / baseline):

- cluster bootstrap: `ratio_of_quantiles`, 2,000 replicates over 10,000 rows in 1,000 clusters,
  against a loop that resamples clusters, gathers their rows and calls `np.quantile` per replicate;
- BCa jackknife: leave-one-cluster-out quantile ratios over 20,000 single-row clusters (a pilot
  CSV without a cluster column), `stats.lift._quantile_ratio_jackknife` against recomputing both
  groups' quantiles without each cluster (quadratic; timed on the first 2,000 clusters and scaled
  by 10, since the whole loop takes minutes);
- attribution: `Matcher.match_commit` on 2,000 ordinary commits against one precompiled regular
  expression search per message (the least any signature matcher must do).

These goals used to be timed unit tests; timing belongs here, as ratios, where a loaded machine
moves both sides alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from loopmeter.attribution import Matcher  # noqa: E402
from loopmeter.stats.bootstrap import factorize_clusters  # noqa: E402
from loopmeter.stats.lift import _quantile_ratio_jackknife, ratio_of_quantiles  # noqa: E402


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bootstrap_row(repeat: int) -> tuple[str, float, float]:
    rng = np.random.default_rng(0)
    n, k, n_boot = 10_000, 1_000, 2_000
    ids, values, in_a = rng.integers(0, k, n), rng.lognormal(3, 1, n), rng.random(n) < 0.5
    a, ca, b, cb = values[in_a], ids[in_a], values[~in_a], ids[~in_a]

    def ours():
        ratio_of_quantiles(a, ca, b, cb, n_boot=n_boot, seed=1)

    def naive():
        r = np.random.default_rng(1)
        rows_a = [np.flatnonzero(ca == j) for j in range(k)]
        rows_b = [np.flatnonzero(cb == j) for j in range(k)]
        out = np.empty(n_boot)
        for i in range(n_boot):
            pick = r.integers(0, k, k)
            ia = np.concatenate([rows_a[j] for j in pick])
            ib = np.concatenate([rows_b[j] for j in pick])
            out[i] = np.quantile(a[ia], 0.5) / np.quantile(b[ib], 0.5)
        np.percentile(out, [2.5, 97.5])

    return "cluster bootstrap, 2,000 x 10,000 rows", _median_time(ours, repeat), _median_time(naive, repeat)


def jackknife_row(repeat: int) -> tuple[str, float, float]:
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(size=10_000), rng.lognormal(0.2, 1.0, 10_000)
    (xa, xb), k = factorize_clusters(np.arange(10_000), np.arange(10_000, 20_000))

    def ours():
        _quantile_ratio_jackknife(a, xa, b, xb, 0.5, k)

    sample = 2_000

    def naive():
        for j in range(sample):
            np.quantile(a[xa != j], 0.5) / np.quantile(b[xb != j], 0.5)

    scale = k / sample
    return ("BCa jackknife, 20,000 one-row clusters", _median_time(ours, repeat),
            _median_time(naive, max(1, repeat // 3)) * scale)


def matcher_row(repeat: int) -> tuple[str, float, float]:
    import re

    bodies = ["", "\n\nHandle empty arrays when the axis is negative.\n\nCloses #123.",
              "\n\n" + "A long explanation of the change that goes on for a while. " * 20,
              "\n\nSigned-off-by: Alice Example <alice@example.org>"]
    commits = [(f"Fix issue {i}" + bodies[i % len(bodies)]) for i in range(2000)]
    matcher = Matcher.load()
    one = re.compile(r"Co-authored-by: Claude", re.IGNORECASE)

    def ours():
        for msg in commits:
            matcher.match_commit(author_name="Alice Example", author_email="alice@example.org",
                                 committer_name="GitHub", committer_email="noreply@github.com", message=msg)

    def naive():
        for msg in commits:
            one.search(msg)

    return "attribution, 2,000 commits", _median_time(ours, repeat), _median_time(naive, repeat)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    print(f"{'what':<42} {'loopmeter':>12} {'baseline':>12} {'ratio':>8}")
    for row in (bootstrap_row, jackknife_row, matcher_row):
        name, ours, base = row(args.repeat)
        print(f"{name:<42} {ours * 1000:>10.1f}ms {base * 1000:>10.1f}ms {ours / base:>8.3g}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
