"""Benchmarks (`make bench`): speed is measured and printed, never asserted.

Every `bench/bench_*.py` is one benchmark, run as `python -m bench.bench_<name>`. They share
`bench.harness` (their own database, RabbitMQ vhost, Redis db and ports; the suite started and
stopped around them) and `bench.dataset` (the seeded customers).
"""
