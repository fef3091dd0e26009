"""Dissection: label the units of a layer with concepts, by IoU and by causal effect."""
