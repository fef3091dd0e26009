"""Training code for the default models (kept apart from the library)."""
