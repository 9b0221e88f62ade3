"""`make bench`: benchmarks of the local stack (API, emulator, worker) printed as a table and saved to bench/results.json.

Benchmarks are measurements, not tests: nothing here asserts a timing. See bench/runner.py for the list.
"""
