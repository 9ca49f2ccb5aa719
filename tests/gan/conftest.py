"""The GAN tests train tiny networks: one thread is faster than two on a shared machine."""

from helpers import one_thread  # noqa: F401  (autouse: one torch thread per test)
