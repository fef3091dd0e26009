"""Measures of edited pictures beyond the library's metrics: realism, seams."""
