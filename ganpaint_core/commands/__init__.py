"""The command-line programs of ``python -m ganpaint_core`` (each: ``add_arguments`` and ``run``)."""
