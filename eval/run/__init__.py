"""The evaluation run: tasks, methods, baselines, the runner and its Dask back-end, the report."""
