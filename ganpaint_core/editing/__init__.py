"""Editing a photo: load it, invert it, adapt G to it, paint edits, put the result back."""
