"""The lift: does work go faster (or better) after AI adoption, and for AI-assisted changes?

The estimators themselves are pure functions in `loopmeter.stats`; this package builds their
inputs from the store, runs the designs and says what could fool each number.
"""
