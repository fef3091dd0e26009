"""Evaluation, by job (``python -m eval``).

- ``eval.run``: the evaluation run (tasks, methods, baselines, the per-photo worker, the Dask back-end, the report);
- ``eval.measures``: measures of edited pictures (realism, seams);
- ``eval.bench``: benchmarks (the editor, the scene renderer, the evaluation back-ends, the demo);
- ``eval.studies``: studies of design choices (add edits, the editor, fit speed, the generator, realism).
"""
