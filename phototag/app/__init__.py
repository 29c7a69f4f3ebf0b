"""The use cases of phototag: one module per job, shared by the commands, `review` and the benchmarks.

Commands (`phototag.cli`) parse options, call one of these and render what comes back;
everything that decides *what* happens lives here or below (train, evaluate, model,
imaging, library). Progress, warnings and skips go through a `phototag.reporting.Reporter`.
"""
