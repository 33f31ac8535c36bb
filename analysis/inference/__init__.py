"""Resampling inference: the bootstrap and the Monte-Carlo check of its CIs."""
