"""The local web review (`phototag review DIR --web`): a page of thumbnails with their suggestions.

A peer of phototag.cli: it serves the same use cases (phototag.app) to a browser instead of a
terminal. Needs the optional extra `phototag[web]` (Starlette and uvicorn); the page itself
is plain HTML, CSS and JavaScript shipped in static/, with no build step and nothing fetched
from the internet.
"""
