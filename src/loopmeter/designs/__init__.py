"""Study designs: how the rows compared by an estimator were chosen, and what that lets a reader
conclude. Each design reads its inputs, checks them, picks the estimators and writes the caveats
its design implies; the estimators themselves live in ``loopmeter.stats``."""
