"""Free ports for tests that need a fixed range (most tests use port 0)."""

from __future__ import annotations

import socket

__all__ = ["two_free_udp_ports"]


def two_free_udp_ports(host: str) -> int:
    """A port p with p and p + 1 both free for UDP on ``host`` (checked by binding them)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
            first.bind((host, 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second:
                try:
                    second.bind((host, port + 1))
                except OSError:
                    continue
        return port
    raise AssertionError("no two consecutive free UDP ports")
