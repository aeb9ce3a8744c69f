"""edge-bench internals: candidates, timing, statistics, environment, reports."""
