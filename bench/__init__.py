"""Benchmarks of The Cloud against their anchors, run with ``python -m bench``.

Each benchmark is a module with ``NAME``, ``ANCHORS`` and ``run(ctx) -> BenchResult``, listed in
`bench.registry`. It measures the project and its anchor (the library it replaces) in the same run
and reports medians, spreads, ratios and whether the issue's targets were met; results go to a
table on stdout and a JSON document under ``bench/results/``.
"""
