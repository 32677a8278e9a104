"""The console's files (package data): every module a page imports exists, nothing is fetched from
another origin, and the tables the JavaScript keeps by hand match the Python ones they copy."""

from __future__ import annotations

import re

from emulator.console import STATIC_DIR
from emulator.regions import DEFAULT_REGIONS
from mediaplane.netem.profiles import profile_names

JS = STATIC_DIR / "js"


def test_every_imported_module_and_referenced_file_exists() -> None:
    for module in JS.glob("*.js"):
        for target in re.findall(r'from "(\./[^"]+)"', module.read_text()):
            assert (JS / target).is_file(), f"{module.name} imports {target}"
    index = (STATIC_DIR / "index.html").read_text()
    for target in re.findall(r'(?:src|href)="([^"#:]+)"', index):
        assert (STATIC_DIR / target).is_file(), f"index.html refers to {target}"


def test_nothing_is_fetched_from_another_origin() -> None:
    for path in [*STATIC_DIR.glob("*.*"), *JS.glob("*.js")]:
        urls = set(re.findall(r"https?://[^\s\"'`)]+", path.read_text()))
        assert urls <= {"http://www.w3.org/2000/svg"}, f"{path.name}: {urls}"


def test_region_labels_cover_the_default_catalogue() -> None:
    labels = dict(re.findall(r'"([a-z0-9-]+)": "([^"]+)"', (JS / "regions.js").read_text()))
    assert list(labels) == [rid for rid, _, _ in DEFAULT_REGIONS]
    assert labels["ap-southeast-1"] == "Singapore"
    assert labels["eu-central-1"] == "Germany (Frankfurt)"  # the seed's words


def test_profile_list_is_the_netem_one() -> None:
    text = (JS / "backbone.js").read_text()
    start = text.index("export const PROFILES = [")
    block = text[start : text.index("];", start)]
    assert re.findall(r'"([a-z0-9-]+)"', block) == profile_names()
