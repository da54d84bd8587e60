"""Tests of protocols/hermes/transport over real loopback sockets."""
