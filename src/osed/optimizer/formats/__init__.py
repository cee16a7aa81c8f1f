"""Request and result formats of the balancer: pymfm-compatible and OSED's own."""
