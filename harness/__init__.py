"""What the tests and the benchmarks share: the launcher of the real service as separate
processes (``harness.stack``), the machine's Redis and PostgreSQL (``harness.services``)
and a health prober (``harness.probe``). Part of neither wheel; depends on nothing in
``tests/`` or ``bench/``."""
