"""Evaluation: metrics, compositing baselines, runners and reports (``python -m eval``)."""

import ganpaint_core  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads)
