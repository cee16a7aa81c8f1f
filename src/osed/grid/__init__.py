"""Grid analytics engines: pure NumPy computation over measurement frames, no I/O."""
