"""Benchmarks of `auditor` against its emulator on 127.0.0.1: run `python benchmarks/run.py`."""
