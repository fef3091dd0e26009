"""Benchmarks: time and memory of the editor, the scene renderer, the evaluation back-ends and the demo."""
