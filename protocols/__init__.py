"""Wire formats and protocol state machines, knowing nothing of the gateway."""
