"""``mcemu``'s command line: every option's help states its default, options parse before or after the
subcommand, ``--api`` takes ``host:port`` as the banner prints it, and port clashes and probe failures
read as one line naming the way out (pure parsing and formatting: no socket)."""

from __future__ import annotations

import argparse
import errno
from collections.abc import Iterator

import pytest

from emulator.cli.media import probe_reason as _probe_reason
from emulator.cli.parser import build_parser as _parser
from emulator.cli.remote import api_url as _api_url
from emulator.cli.up import port_clash as _port_clash
from emulator.topology import DEFAULT_TOPOLOGY, Topology


def parsers(p: argparse.ArgumentParser, path: str = "mcemu") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{path} {name}")


def test_every_option_states_its_default() -> None:
    missing = [
        f"{path} {action.option_strings[0]}"
        for path, p in parsers(_parser())
        for action in p._actions
        if action.option_strings
        and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
        and "default" not in (action.help or "")
    ]
    assert missing == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-level", "DEBUG", "flows"],
        ["flows", "--log-level", "DEBUG"],
        ["link", "show", "--log-level", "DEBUG"],
    ],
)
def test_log_level_before_or_after_the_subcommand(argv: list[str]) -> None:
    assert _parser().parse_args(argv).log_level == "DEBUG"


def test_log_level_defaults_to_info_after_any_subcommand() -> None:
    assert _parser().parse_args(["lastmile", "show"]).log_level == "INFO"


def test_api_takes_host_port_or_a_url() -> None:
    assert _api_url("127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert _api_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    with pytest.raises(SystemExit, match="is not host:port or an http:// URL"):
        _api_url("ftp://x")


def clash(host: str, port: int) -> OSError:
    return OSError(
        errno.EADDRINUSE,
        f"error while attempting to bind on address ('{host}', {port}): address already in use",
    )


def test_a_port_clash_names_the_way_out() -> None:
    topology = Topology.from_dict(DEFAULT_TOPOLOGY)
    api = _port_clash(clash("127.0.0.1", 8080), topology, None)
    assert api.startswith("mcemu: cannot listen on 127.0.0.1:8080: address already in use;")
    assert (
        "another mcemu may be running (see mcemu state --api 127.0.0.1:8080)" in api and "--api-port" in api
    )
    rtmp = _port_clash(clash("127.0.1.1", 1935), topology, 0)
    assert "127.0.1.1:1935" in rtmp and "rtmp_port" in rtmp and "--api 127.0.0.1:8080" in rtmp
    assert "\n" not in api + rtmp


def test_probe_reasons_say_why() -> None:
    url = "rtmp://127.0.1.2:1935/live/bogus"
    refused = (
        "cannot open: [Errno 1] Operation not permitted: 'rtmp://127.0.1.2:1935/live/bogus'; last error log: "
        "[rtmp] Server error: no input or output has stream key 'bogus'"
    )
    assert _probe_reason(url, refused, 10) == "the server refused: no input or output has stream key 'bogus'"
    assert "nothing listens at 127.0.1.2:1935" in _probe_reason(
        url, "cannot open: [Errno 111] Connection refused", 10
    )
    assert "no media arrived within 10 s" in _probe_reason(
        url, "cannot open: [Errno 5] Input/output error", 10
    )
