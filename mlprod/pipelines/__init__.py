"""Example TFX pipelines and the helpers that run them."""
