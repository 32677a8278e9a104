"""How fixtures/srt_*.bin were captured (a tool, not a test).

A tiny UDP relay sits between two real ffmpeg processes (a caller pushing to the relay's port, a
listener behind it) and pickles every datagram with its direction; the golden fixtures are a few of
those datagrams (induction, conclusion with KMREQ, ACK, NAK, data...). Usage::

    python capture_srt_fixtures.py FRONT_PORT LISTENER_PORT out.pkl SECONDS [LOSS]
    ffmpeg -i 'srt://127.0.0.1:LISTENER_PORT?mode=listener&passphrase=secretsecret' -c copy -f mpegts out.ts
    ffmpeg -re -i clip.ts -c copy -f mpegts 'srt://127.0.0.1:FRONT_PORT?mode=caller&passphrase=secretsecret'

LOSS drops that fraction of data packets (seeded) so the capture contains NAKs and retransmissions.
"""

from __future__ import annotations

import asyncio
import pathlib
import pickle
import random
import sys
import time


async def relay(
    front_port: int, target_port: int, seconds: float, loss: float
) -> list[tuple[str, float, bytes]]:
    loop = asyncio.get_running_loop()
    record: list[tuple[str, float, bytes]] = []
    rng = random.Random(1)
    state: dict[str, object] = {}

    def lossy(data: bytes) -> bool:
        return bool(loss) and rng.random() < loss and not data[0] & 0x80

    class Front(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            state["caller"] = addr
            record.append(("C2L", time.monotonic(), data))
            if not lossy(data):
                state["up"].sendto(data)  # type: ignore[attr-defined]

    class Up(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            record.append(("L2C", time.monotonic(), data))
            if not lossy(data):
                state["front"].sendto(data, state["caller"])  # type: ignore[attr-defined]

    front, _ = await loop.create_datagram_endpoint(Front, local_addr=("127.0.0.1", front_port))
    up, _ = await loop.create_datagram_endpoint(Up, remote_addr=("127.0.0.1", target_port))
    state["front"], state["up"] = front, up
    await asyncio.sleep(seconds)
    front.close()
    up.close()
    return record


def main() -> None:
    front, target, out, seconds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    loss = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    record = asyncio.run(relay(front, target, seconds, loss))
    pathlib.Path(out).write_bytes(pickle.dumps(record))
    print(f"{len(record)} datagrams")


if __name__ == "__main__":
    main()
