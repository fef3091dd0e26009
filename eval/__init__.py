"""Evaluation: metrics, compositing baselines, runners and reports (``python -m eval``)."""
