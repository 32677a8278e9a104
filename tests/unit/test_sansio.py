"""Protocol cores stay sans-IO: no asyncio, socket or selectors, no clock, no global random."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "mediaplane"

# Modules that are adapters (they own sockets, tasks and clocks) or instruments; everything else under
# rtmp/, srt/ and netem/ is a protocol core.
ADAPTERS = {"server.py", "client.py", "endpoint.py", "link.py", "__init__.py", "cli.py"}
ADAPTERS |= {"caller.py", "socket_driver.py"}  # srt: the caller and the driver both endpoints run on
ADAPTERS |= {"udp_link.py", "tcp_link.py", "link_base.py"}  # netem: the two relays and their loop helpers
CORE_DIRS = ("rtmp", "srt", "netem")
FORBIDDEN_MODULES = {"asyncio", "socket", "selectors", "time", "threading", "uvloop"}
FORBIDDEN_CALLS = {
    ("random", name)
    for name in (
        "random",
        "randint",
        "randrange",
        "choice",
        "getrandbits",
        "uniform",
        "gauss",
        "shuffle",
        "seed",
        "sample",
    )
}


def core_modules() -> list[pathlib.Path]:
    found = []
    for d in CORE_DIRS:
        for path in sorted((ROOT / d).glob("*.py")):
            if path.name not in ADAPTERS:
                found.append(path)
    return found


def violations(source: str) -> list[str]:
    tree = ast.parse(source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    out.append(f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                out.append(f"imports from {node.module}")
            if node.module == "random" and any(a.name != "Random" for a in node.names):
                out.append("imports global random functions")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            value = node.func.value
            if isinstance(value, ast.Name) and (value.id, node.func.attr) in FORBIDDEN_CALLS:
                out.append(f"calls random.{node.func.attr}() on the global generator")
    return out


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_is_sans_io(path: pathlib.Path) -> None:
    assert violations(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import socket",
        "from time import monotonic",
        "import time",
        "from random import randint",
        "import random\nrandom.random()",
    ],
)
def test_checker_catches(source: str) -> None:
    assert violations(source)


def test_checker_allows_injected_random() -> None:
    assert violations("import random\nrng = random.Random(1)\nrng.random()") == []
