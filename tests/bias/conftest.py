"""Bias tests use tiny networks: one thread is faster for them than two on a shared machine."""

from helpers import one_thread  # noqa: F401  (autouse: one torch thread per test)
