"""Scoring suggestions: the baselines, the rows of `phototag eval` and their tables.

The metrics live in phototag.metrics (training uses them too); the protocol that
splits, trains and scores is the eval use case, phototag.app.evaluate.
"""
