"""Building engines: device models, learners, forecasters and the building MPC (no I/O)."""
