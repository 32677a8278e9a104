"""Record the seed captures ``fixtures/rtmp_publish_ffmpeg.bin`` and ``fixtures/rtmp_publish_server.bin``.

A raw asyncio socket server performs the server side with our own sans-IO core
(:class:`~mediaplane.rtmp.session.RtmpServerSession`, publish accepted) while the real ffmpeg from
imageio-ffmpeg publishes one second of a small lavfi test clip (160x90 H.264 at 10 fps, AAC sine). Every
byte ffmpeg sent (handshake, connect, createStream, publish, metadata, media, deleteStream) goes to
``rtmp_publish_ffmpeg.bin``; every byte our server answered goes to ``rtmp_publish_server.bin``.

    python -m fuzz.record_rtmp_publish          # rewrites both files under fixtures/

This is a developer tool (run once, the files are committed), not a test.
"""

from __future__ import annotations

import asyncio
import pathlib
import random
import sys

import imageio_ffmpeg

from mediaplane.rtmp.events import PublishRequested
from mediaplane.rtmp.session import RtmpServerSession

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
CLIENT_FILE = FIXTURES / "rtmp_publish_ffmpeg.bin"
SERVER_FILE = FIXTURES / "rtmp_publish_server.bin"
MAX_CAPTURE_BYTES = 200 * 1024


async def record() -> tuple[bytes, bytes]:
    client_bytes = bytearray()
    server_bytes = bytearray()
    done = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = RtmpServerSession(random.Random(0))
        try:
            while data := await reader.read(65536):
                client_bytes.extend(data)
                session.receive_data(data)
                while (event := session.next_event()) is not None:
                    if isinstance(event, PublishRequested):
                        session.accept_publish(event.stream_id)
                out = session.data_to_send()
                if out:
                    server_bytes.extend(out)
                    writer.write(out)
                    await writer.drain()
        finally:
            writer.close()
            done.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # fmt: off
    args = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "lavfi", "-i", "testsrc=size=160x90:rate=10",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050",
        "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-g", "5", "-b:v", "60k",
        "-c:a", "aac", "-b:a", "24k", "-ac", "1",
        "-f", "flv", f"rtmp://127.0.0.1:{port}/live/fuzzkey",
    ]
    # fmt: on
    proc = await asyncio.create_subprocess_exec(*args)
    rc = await proc.wait()
    await asyncio.wait_for(done.wait(), 30)
    server.close()
    await server.wait_closed()
    if rc != 0:
        raise SystemExit(f"ffmpeg exited with {rc}")
    return bytes(client_bytes), bytes(server_bytes)


def main() -> int:
    client, server = asyncio.run(record())
    if len(client) > MAX_CAPTURE_BYTES:
        print(
            f"capture of {len(client)} bytes is over {MAX_CAPTURE_BYTES}; shorten the clip", file=sys.stderr
        )
        return 1
    CLIENT_FILE.write_bytes(client)
    SERVER_FILE.write_bytes(server)
    print(f"{CLIENT_FILE.name}: {len(client)} bytes, {SERVER_FILE.name}: {len(server)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
