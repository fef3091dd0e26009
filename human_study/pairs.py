"""The study's input format: ``pairs/manifest.csv``, one row per pair of pictures to compare (``build`` reads it;
``python -m eval run`` writes it beside ``pairs/images/<task_id>/<method>.png``)."""

PAIR_COLUMNS = ("pair_id", "task_id", "action", "concept", "method_a", "method_b", "image_a", "image_b",
                "original", "mask")
