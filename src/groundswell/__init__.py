"""Groundswell: self-hosted tweet-sentiment labeling, consolidation, training and serving."""

__version__ = "0.1.0"
__all__ = ["__version__"]
