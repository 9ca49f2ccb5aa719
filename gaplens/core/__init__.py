"""Model loading, safe hooks, batching, image I/O and devices: what every capability uses."""
