"""Studies: measured design choices of the editor, the generator and the realism score."""
