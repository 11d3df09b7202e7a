"""The side-by-side benchmark harness of bench/run.sh (issue 3)."""
