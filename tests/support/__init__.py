"""Helpers shared by the tests, benchmarks and fuzzers: one module per job.

``tests/`` is on pytest's ``pythonpath`` (pyproject.toml), so test modules import
``support.<module>``.  Scripts run outside pytest (benchmarks, the atheris fuzzer,
``python -m support.malformed_corpus``) need ``PYTHONPATH=tests`` from the project root;
subprocess workers (``support.fuzz_worker``) get it from the test that starts them.
"""
