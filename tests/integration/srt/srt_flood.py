"""A handshake flood for the SRT listener tests, run as its own process (so that its sending does not
compete with the listener for the interpreter lock): ``python srt_flood.py PORT KIND RATE SECONDS``.

KIND ``inductions``: induction requests from ever new socket ids. KIND ``conclusions``: one induction
buys a valid SYN cookie for this socket's address, then the same conclusion, with key material
wrapped under a guessed passphrase, over and over. Prints the number of datagrams sent.
"""

from __future__ import annotations

import contextlib
import random
import socket
import sys
import time

from mediaplane.srt.handshake import Handshake, HandshakeType, SrtHandshakeExtension, parse_handshake
from mediaplane.srt.keymaterial import new_keyset


def wire(sock: socket.socket, target: tuple[str, int], kind: str) -> list[bytes]:
    if kind == "inductions":
        return [Handshake(version=4, extension_field=2, socket_id=i + 1).encode() for i in range(1000)]
    sock.sendto(Handshake(version=4, extension_field=2, socket_id=77).encode(), target)
    cookie = parse_handshake(sock.recv(2048)).syn_cookie
    km = new_keyset(random.Random(7), 16).to_message("an attacker's guess").encode()
    return [
        Handshake(
            version=5,
            encryption=2,
            handshake_type=HandshakeType.CONCLUSION,
            socket_id=77,
            syn_cookie=cookie,
            hsreq=SrtHandshakeExtension(),
            kmreq=km,
            stream_id="#!::r=evil,m=publish",
        ).encode()
    ]


def main(port: int, kind: str, rate: int, seconds: float) -> int:
    target = ("127.0.0.1", port)
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5.0)
        datagrams = wire(sock, target, kind)
        sock.setblocking(False)
        per_tick = max(1, rate // 100)
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            for _ in range(per_tick):
                with contextlib.suppress(BlockingIOError):
                    sock.sendto(datagrams[sent % len(datagrams)], target)
                sent += 1
            while True:  # replies (induction answers, rejections) are read and thrown away
                try:
                    sock.recv(2048)
                except (BlockingIOError, InterruptedError):
                    break
            ahead = start + sent / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # paced: 100 bursts a second
    return sent


if __name__ == "__main__":
    print(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
