"""phototag: learns how you tag your photos and suggests tags in your own vocabulary."""

__version__ = "0.1.0"
