"""One thread for these tests: their models are tiny, and on a shared 2-core machine two OpenMP threads
waiting for each other are many times slower than one (the root conftest sets 2; restored after)."""

from helpers import one_thread  # noqa: F401  (autouse: one torch thread per test)
