"""The experiment design: a pilot's CSV of work items, some done with the treatment (an AI tool),
some without, and the ratio of their durations.

One row per work item. The CSV gives each item's duration (a number in any one unit) or its start
and end timestamps, which arm it was in, and optionally who did it (the cluster), covariates and
fixed effects. The headline is ``log(duration) ~ treatment + covariates + fixed effects`` by OLS
with cluster-robust errors (``stats.regression``); the Hodges-Lehmann ratio and the ratio of
medians are reported beside it as checks that do not lean on the log-normal shape.

Rows with no duration are listed (count and CSV line numbers) and left out, never dropped
silently; every other defect of the file stops the run with one line naming the line and column.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInput, ConfigError, UnreadablePath
from ..stats.json_values import json_ready
from ..stats.lift import ratio_of_quantiles, _size_caveats
from ..stats.ranks import hodges_lehmann
from ..stats.regression import log_duration_ols

__all__ = ["pilot_lift"]

# Cell texts that mean "no value". Anything else that fails to parse is an error, not a gap.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})

# Two-valued treatment columns whose treated arm is obvious (compared lower-cased).
_TREATED_BY_PAIR = {
    frozenset({"0", "1"}): "1",
    frozenset({"false", "true"}): "true",
    frozenset({"no", "yes"}): "yes",
    frozenset({"control", "treatment"}): "treatment",
    frozenset({"control", "treated"}): "treated",
}

# "unit": each work item was randomized to an arm; "cluster": whole clusters (developers, teams)
# were, so every cluster sits in one arm and only cluster-aware intervals mean anything;
# "verified" is the older name of "unit"; "assumed": not said (a caveat); "none": observational.
RANDOMIZATION = ("assumed", "unit", "cluster", "verified", "none")
MAX_LISTED_LINES = 50
# The ratio of medians' cluster-bootstrap interval, chosen by measured coverage on simulated pilot
# tables (bench/pilot_coverage.py; the table is in docs/metrics.md).
MEDIAN_INTERVAL = "percentile"
LABELS = ("the treated group", "the control group")


@dataclass(frozen=True)
class _Table:
    path: Path
    columns: list[str]
    frame: pd.DataFrame  # all cells as stripped strings
    lines: np.ndarray  # CSV line number where each row starts (the header is line 1)


def pilot_lift(
    csv_path: str | Path,
    *,
    duration: str | None = None,
    start: str | None = None,
    end: str | None = None,
    treatment: str,
    treated: str | None = None,
    cluster: str | None = None,
    covariates: Sequence[str] = (),
    fixed_effects: Sequence[str] = (),
    size: str | None = None,
    randomization: str = "assumed",
    duration_unit: str | None = None,
    conf: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict:
    """Lift of a pilot or experiment from a CSV file; returns a JSON-ready document.

    Stable signature (``loopmeter lift --csv`` calls it). Arguments name CSV columns:

    - ``duration``: a positive number per row in any one unit; or ``start`` and ``end``: ISO 8601
      timestamps (naive ones are UTC), duration = end - start in hours. Exactly one of the two.
      ``duration_unit`` names the unit of the duration column ("minutes", "days"); it is only
      said back (ratios have no unit), and start/end durations are in hours.
      An empty cell (or NA, NaN, null, none) is a missing duration: the row is listed in
      ``missing_duration_rows`` and left out. Zero, negative or unparseable values are errors.
    - ``treatment``: exactly two distinct values. The treated one is ``treated`` if given, else
      inferred from 0/1, false/true, no/yes, control/treatment(ed); otherwise an error.
    - ``cluster``: who did the work (author, team), for cluster-robust errors (CR1). Without it
      rows count as independent (HC1 errors) and a caveat says so.
    - ``covariates``: ``COL`` (as is), ``log:COL`` (natural log, values > 0) or ``log1p:COL``
      (log(1 + value), values >= 0); ``fixed_effects``: categorical columns (repo, team, actor).
    - ``size``: a covariate spec (``log1p:lines``) or column holding each item's size; gives the
      size-mismatch caveat and ``size_sensitivity``, the estimate with and without it.
    - ``randomization``: ``"assumed"`` (default: a caveat says it was not checked), ``"unit"``
      (each item was randomized; ``"verified"`` is an older name for it), ``"cluster"`` (whole
      clusters were randomized: needs ``cluster``, and every cluster must sit in one arm; a
      cluster in both arms is an error naming it), ``"none"`` (observational: an association).

    The document: ``design``, ``metric``, ``estimator`` ("log_duration_ols"), ``ratio``
    (treated / control, exp of the treatment coefficient), ``ci_low``/``ci_high`` (cluster-robust
    t interval), ``p_value``, ``speedup``, ``n_a`` (treated rows), ``n_b`` (control rows),
    ``n_clusters``, ``caveats``, the regression's extras (``se``, ``se_plain``, ``ci_plain_low``,
    ``ci_plain_high``, ``p_value_plain``, ...), ``conf``, ``treatment_levels``,
    ``missing_duration_rows`` ({count, lines, lines_truncated, by_group}), ``rows``,
    ``size_sensitivity``, ``randomization``, ``duration_unit`` and ``alternatives`` (Hodges-Lehmann
    and ratio of medians). Every estimate says ``clustered``: whether its interval and p-value
    allow for the rows of one cluster being dependent.

    Raises ``BadInput`` (file content), ``UnreadablePath`` (no such file) or ``ConfigError``
    (inconsistent arguments), each with one line naming the file, line and column.
    """
    by_column, by_times = duration is not None, start is not None and end is not None
    if by_column == by_times or (not by_column and (start is None) != (end is None)) or (
        by_column and (start is not None or end is not None)
    ):
        raise ConfigError("give either a duration column, or both a start and an end column")
    if randomization not in RANDOMIZATION:
        raise ConfigError(f"randomization must be one of {', '.join(RANDOMIZATION)}, got {randomization!r}")
    if randomization == "cluster" and cluster is None:
        raise ConfigError("randomization by cluster needs the cluster column (who was randomized): give cluster=COL")
    if duration_unit is not None and duration is None:
        raise ConfigError("duration_unit describes a duration column; durations from start and end are in hours")
    if not 0.0 < conf < 1.0:
        raise ConfigError(f"conf must be strictly between 0 and 1, got {conf}")
    cov_specs = [_parse_spec(s) for s in covariates]
    size_spec = _parse_spec(size) if size is not None else None

    table = _read_csv(Path(csv_path))
    needed = [c for c in (duration, start, end, treatment, cluster) if c is not None]
    needed += [col for _, col in cov_specs] + list(fixed_effects)
    needed += [size_spec[1]] if size_spec else []
    for col in dict.fromkeys(needed):
        if col not in table.columns:
            raise BadInput(f"{table.path}: no column {col!r} (columns: {', '.join(table.columns)})")

    dur = _durations(table, duration, start, end)
    arm, levels = _treatment(table, treatment, treated)
    known = ~np.isnan(dur)
    missing_lines = table.lines[~known]
    keep = table.frame[known]
    lines = table.lines[known]
    y, is_treated = dur[known], arm[known]
    n_a, n_b = int(is_treated.sum()), int((~is_treated).sum())
    for n, label in ((n_a, levels["treated"]), (n_b, levels["control"])):
        if n == 0:
            raise BadInput(
                f"{table.path}: no row with a known duration has {treatment} = {label!r}; "
                "there is nothing to compare"
            )
    if np.all(y == y[0]):
        raise BadInput(f"{table.path}: every known duration is {y[0]:g}; there is no variation to compare")

    clusters = None
    if cluster is not None:
        clusters = _required_text(keep, lines, cluster, table.path)
        if len(set(clusters)) < 2:
            raise BadInput(
                f"{table.path}: column {cluster!r} has a single value ({clusters[0]!r}) among the rows "
                "compared; cluster-robust intervals need at least two clusters (leave out the cluster "
                "column to treat rows as independent)"
            )
    if randomization == "cluster":
        _check_cluster_arms(table.path, lines, cluster, clusters, is_treated, levels)
    cov = {spec: _covariate(keep, lines, kind, col, spec, table.path) for spec, (kind, col) in zip(covariates, cov_specs)}
    fes = {col: _required_text(keep, lines, col, table.path) for col in fixed_effects}

    est = log_duration_ols(y, is_treated, covariates=cov, fixed_effects=fes, clusters=clusters, conf=conf,
                           labels=LABELS)
    caveats = list(est.caveats)
    size_doc = None
    if size_spec is not None:
        kind, col = size_spec
        raw = _covariate(keep, lines, "raw", col, col, table.path)
        if (raw < 0).any():
            raise _first_bad(table.path, lines, keep[col], raw < 0, col, "is not a size (sizes are >= 0)")
        caveats += _size_caveats(raw[is_treated], raw[~is_treated], n_a, n_b, LABELS)
        spec = size if size in cov else None
        with_cov = cov if spec else {**cov, size: _covariate(keep, lines, kind, col, size, table.path)}
        without_cov = {k: v for k, v in cov.items() if k != size}
        common = dict(fixed_effects=fes, clusters=clusters, conf=conf, labels=LABELS)
        size_doc = {
            "covariate": size,
            "with_size": log_duration_ols(y, is_treated, covariates=with_cov, **common).to_dict(),
            "without_size": log_duration_ols(y, is_treated, covariates=without_cov, **common).to_dict(),
        }
    if randomization == "cluster":
        caveats.append(
            f"Whole clusters ({cluster}) were randomized, so the evidence is {len(set(clusters))} clusters, "
            f"not {len(y)} rows: only the cluster-aware intervals (clustered: true) speak for the data."
        )
    if randomization == "assumed":
        caveats.append(
            "Randomization is assumed, not checked: the ratio is causal only if the treatment was "
            "assigned at random (compare who and what ended up in each group before trusting it)."
        )
    elif randomization == "none":
        caveats.append(
            "The treatment was not randomized: the ratio is an association, and the people or work "
            "that got the treatment may differ from the rest in ways that move durations."
        )
    if missing_lines.size:
        rows_have = "1 row has" if missing_lines.size == 1 else f"{missing_lines.size} rows have"
        caveats.append(
            f"{rows_have} no duration and {'is' if missing_lines.size == 1 else 'are'} left out (lines listed in "
            "missing_duration_rows); if they are unfinished items, leaving them out favours the "
            "group with more of them still open."
        )

    ids_a = clusters[is_treated] if clusters is not None else lines[is_treated]
    ids_b = clusters[~is_treated] if clusters is not None else lines[~is_treated]
    unit = duration_unit if duration is not None else "hours"
    alternatives = [
        {**hodges_lehmann(y[is_treated], y[~is_treated], conf=conf, clusters_a=ids_a, clusters_b=ids_b,
                          labels=LABELS).to_dict(), "duration_unit": unit},
        {**ratio_of_quantiles(y[is_treated], ids_a, y[~is_treated], ids_b, conf=conf, n_boot=n_boot, seed=seed,
                              labels=LABELS, interval=MEDIAN_INTERVAL).to_dict(), "duration_unit": unit},
    ]

    missing_arm = arm[~known]
    doc = {
        "design": "experiment",
        "metric": "duration",
        "comparison": "treated/control",
        **est.to_dict(),
        "duration_unit": unit,
        "caveats": caveats,
        "conf": conf,
        "source": str(table.path),
        "duration_source": {"column": duration, "unit": duration_unit} if duration is not None else
                           {"start": start, "end": end, "unit": "hours"},
        "randomization": randomization,
        "rows": int(len(table.frame)),
        "treatment_levels": {
            "column": treatment, **levels, "n_treated": n_a, "n_control": n_b,
        },
        "cluster": cluster,
        "missing_duration_rows": {
            "count": int(missing_lines.size),
            "lines": [int(x) for x in missing_lines[:MAX_LISTED_LINES]],
            "lines_truncated": bool(missing_lines.size > MAX_LISTED_LINES),
            "by_group": {"treated": int(missing_arm.sum()), "control": int((~missing_arm).sum())},
        },
        "size_sensitivity": size_doc,
        "alternatives": alternatives,
    }
    return json_ready(doc)


# --------------------------------------------------------------------------------- reading


def _read_csv(path: Path) -> _Table:
    # The csv module rather than pandas.read_csv: it reports the line each row starts on even
    # when quoted cells span lines or blank lines are skipped, so errors can name the real line.
    if not path.is_file():
        raise UnreadablePath(f"{path}: no such file")
    records: list[list[str]] = []
    starts: list[int] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise BadInput(f"{path}: the file is empty; expected a header line") from None
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise BadInput(f"{path}:1: column {dupes[0]!r} appears more than once in the header")
            prev = reader.line_num
            for row in reader:
                line, prev = prev + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue  # a blank line is not a row
                if len(row) != len(header):
                    raise BadInput(f"{path}:{line}: {len(row)} fields, but the header has {len(header)}")
                records.append([cell.strip() for cell in row])
                starts.append(line)
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise BadInput(f"{path}:{reader.line_num}: {e}") from None
    except OSError as e:
        raise UnreadablePath(f"{path}: {e.strerror or e}") from None
    if not records:
        raise BadInput(f"{path}: no data rows after the header")
    frame = pd.DataFrame(records, columns=header, dtype=object)
    return _Table(path, header, frame, np.asarray(starts, dtype=np.int64))


def _is_missing(values: pd.Series) -> np.ndarray:
    return values.str.lower().isin(MISSING).to_numpy()


def _first_bad(table_path: Path, lines: np.ndarray, values: pd.Series, bad: np.ndarray, col: str, what: str):
    i = int(np.flatnonzero(bad)[0])
    return BadInput(f"{table_path}:{lines[i]}: column {col!r}: {values.iloc[i]!r} {what}")


def _durations(table: _Table, duration, start, end) -> np.ndarray:
    """Durations per row, NaN where missing; raises on anything unparseable, zero or negative."""
    f, lines, path = table.frame, table.lines, table.path
    if duration is not None:
        raw = f[duration]
        missing = _is_missing(raw)
        num = pd.to_numeric(raw.where(~missing), errors="coerce").to_numpy(float)
        bad = ~missing & np.isnan(num)
        if bad.any():
            raise _first_bad(path, lines, raw, bad, duration, "is not a number")
        if np.isinf(num).any():
            raise _first_bad(path, lines, raw, np.isinf(num), duration, "is not a finite number")
        nonpos = ~missing & (num <= 0)
        if nonpos.any():
            raise _first_bad(path, lines, raw, nonpos, duration,
                             "is not a positive duration (leave the cell empty if it is unknown)")
        return num
    times = []
    missing_any = np.zeros(len(f), dtype=bool)
    for col in (start, end):
        raw = f[col]
        missing = _is_missing(raw)
        ts = pd.to_datetime(raw.where(~missing), errors="coerce", utc=True, format="ISO8601")
        bad = ~missing & ts.isna().to_numpy()
        if bad.any():
            raise _first_bad(path, lines, raw, bad, col, "is not an ISO 8601 timestamp")
        times.append(ts)
        missing_any |= missing
    hours = ((times[1] - times[0]).dt.total_seconds() / 3600.0).to_numpy(float)
    hours[missing_any] = np.nan
    nonpos = ~missing_any & (hours <= 0)
    if nonpos.any():
        i = int(np.flatnonzero(nonpos)[0])
        raise BadInput(
            f"{path}:{lines[i]}: {end!r} ({f[end].iloc[i]}) is not after {start!r} ({f[start].iloc[i]}); "
            "a duration must be positive"
        )
    return hours


def _treatment(table: _Table, col: str, treated: str | None) -> tuple[np.ndarray, dict]:
    raw = table.frame[col]
    missing = _is_missing(raw)
    if missing.any():
        raise _first_bad(table.path, table.lines, raw, missing, col, "is not a treatment value (it is empty)")
    values = sorted(raw.unique())
    if len(values) != 2:
        shown = ", ".join(repr(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
        raise BadInput(
            f"{table.path}: column {col!r} has {len(values)} distinct values ({shown}); "
            "a treatment column needs exactly two"
        )
    if treated is None:
        lowered = {v.lower(): v for v in values}
        guess = _TREATED_BY_PAIR.get(frozenset(lowered))
        if guess is None:
            raise ConfigError(
                f"{table.path}: column {col!r} has values {values[0]!r} and {values[1]!r}; "
                "say which one is the treated arm (treated=...)"
            )
        treated = lowered[guess]
    elif treated not in values:
        raise ConfigError(f"{table.path}: treated={treated!r} is not a value of column {col!r} ({values[0]!r}, {values[1]!r})")
    control = values[0] if values[1] == treated else values[1]
    return (raw == treated).to_numpy(), {"treated": treated, "control": control}


def _check_cluster_arms(path: Path, lines: np.ndarray, col: str, clusters: np.ndarray, treated: np.ndarray,
                        levels: dict) -> None:
    """Randomized by cluster means each cluster is in one arm; the first one in both is named."""
    frame = pd.DataFrame({"c": clusters, "t": treated})
    arms = frame.groupby("c", sort=False)["t"].nunique()
    mixed = arms[arms > 1]
    if len(mixed):
        name = mixed.index[0]
        rows = np.flatnonzero(clusters == name)
        first_t = rows[treated[rows]][0]
        first_c = rows[~treated[rows]][0]
        raise BadInput(
            f"{path}:{max(lines[first_t], lines[first_c])}: column {col!r}: cluster {name!r} has rows in both arms "
            f"({levels['treated']!r} on line {lines[first_t]}, {levels['control']!r} on line {lines[first_c]}), "
            "but the randomization is by cluster"
        )


def _required_text(frame: pd.DataFrame, lines: np.ndarray, col: str, path: Path) -> np.ndarray:
    raw = frame[col]
    missing = _is_missing(raw)
    if missing.any():
        raise _first_bad(path, lines, raw, missing, col, "is missing; every compared row needs a value")
    return raw.to_numpy(dtype=object)


def _parse_spec(spec: str) -> tuple[str, str]:
    kind, sep, col = spec.partition(":")
    if not sep:
        return "raw", spec
    if kind not in ("log", "log1p") or not col:
        raise ConfigError(f"covariate {spec!r}: write COL, log:COL or log1p:COL")
    return kind, col


def _covariate(frame: pd.DataFrame, lines: np.ndarray, kind: str, col: str, spec: str, path: Path) -> np.ndarray:
    raw = frame[col]
    missing = _is_missing(raw)
    if missing.any():
        raise _first_bad(path, lines, raw, missing, col, "is missing; every compared row needs a value")
    num = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(num)
    if bad.any():
        raise _first_bad(path, lines, raw, bad, col, "is not a finite number")
    if kind == "log":
        if (num <= 0).any():
            raise _first_bad(path, lines, raw, num <= 0, col, f"has no logarithm ({spec} needs values > 0; try log1p:{col})")
        return np.log(num)
    if kind == "log1p":
        if (num < 0).any():
            raise _first_bad(path, lines, raw, num < 0, col, f"is negative ({spec} needs values >= 0)")
        return np.log1p(num)
    return num
