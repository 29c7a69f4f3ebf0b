"""Measuring suggestions with the paper's metrics against baselines."""
