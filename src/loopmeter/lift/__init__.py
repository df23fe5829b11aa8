"""The lift: does work go faster (or better) after AI adoption, and for AI-assisted changes?

One concept, one package. Data flows one way through it:

- `inputs`      rows from the store: changes, weekly activity, adoption dates, periods
- `units`       what a unit is (a repository, a team of loopmeter.toml, a CODEOWNERS team)
- `durations`   cycle-time comparisons of two groups (every duration estimator)
- `throughput`  validated changes per contributor-week after vs before adoption
- `weekly`      weekly series, interrupted time series, staggered DiD, forecasts
- `checks`      the caveats computed from the data (each one a plain sentence)
- `specification` the comparison under the other reasonable choices
- `results`     the shape of one result row
- `designs`     the designs themselves (before-after, ai-vs-human, experiment) and entry points
- `by_unit`     the report's designs per repository or per team
- `summary`     the report's summary lift (v1) and the pooled adoption detection

The estimators themselves are pure functions in `loopmeter.stats`.
"""
