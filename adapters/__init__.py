"""One module per machine-facing protocol; each owns a machine connection and emits observations."""
