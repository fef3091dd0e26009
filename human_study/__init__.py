"""Paired-comparison (2AFC) human studies: builder, server, simulator, analysis."""
