"""Model loading, safe hooks, batching, image I/O, seeding and devices: what every capability uses."""
