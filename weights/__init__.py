"""phototag's packaged model files (installed as the package `phototag_weights`).

Only data lives here: the general vocabulary, the manifest with sha256 of every
file, and MODEL_CARD.md. Code that reads them is `phototag.model.weights`.
`build_packaged_model.py` rebuilds them.
"""
