"""EDGE DERMS Coordinators: the EDC manager, its management API and the user managers that
run each grid function's channels to the buildings (docs/edge.md)."""
