"""A topology's RTMP endpoints get their seed-derived stream keys when they are added, so the URL the
"added" log line shows is the URL a client connects to (it used to show a random key, replaced a moment
later)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

from emulator.testing import EmulatorThread
from emulator.topology import stream_key

TOPOLOGY = {
    "seed": 42,
    "flows": [
        {
            "name": "KeysA",
            "region": "ap-southeast-1",
            "input": {"name": "KeysAInput", "protocol": "RTMP-PUSH"},
            "outputs": [{"name": "KeysAOutput", "protocol": "RTMP-PULL"}],
        }
    ],
}


def test_the_added_lines_show_the_urls_clients_use(
    mcemu_factory: Callable[[dict[str, Any]], EmulatorThread], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="emulator.model.manager"):
        emu = mcemu_factory(TOPOLOGY)
    # caplog.text is formatted when each line was emitted, as a console shows it (a record's
    # getMessage() would format the endpoint as it is now).
    logged = dict(re.findall(r"<Flow(?:Input|Output) (\w+) RTMP-\w+ \w* ?(rtmp://\S+)>", caplog.text))
    for endpoint in ("KeysAInput", "KeysAOutput"):
        url = emu.url("KeysA", endpoint)
        assert url.endswith("/" + stream_key(42, "ap-southeast-1", "KeysA", endpoint))
        assert logged[endpoint] == url
