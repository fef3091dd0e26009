"""The generator, encoder, discriminator and segmenter networks, and hooks to edit them."""
