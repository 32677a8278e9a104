"""Code blocks of the repository's README.md, found by the heading they sit under (so a test runs what a
user copies, and the two cannot drift)."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def python_block(heading: str) -> str:
    """The first ```python block after the line ``heading``."""
    text = README.read_text()
    start = text.index("\n" + heading + "\n")
    begin = text.index("```python\n", start) + len("```python\n")
    return text[begin : text.index("\n```", begin) + 1]
