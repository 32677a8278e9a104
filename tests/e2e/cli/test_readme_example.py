"""The README's complete plugin example ("Using it from tests"), exactly as written, run with the
plugin's own fixtures: the SDK builds a flow, ``mcemu.url`` finds its URLs, ``start_signal`` pushes and
``probe`` reads numbered frames back, beside the emulator in this process."""

from __future__ import annotations

from typing import Any

from readme_blocks import python_block

from emulator.testing import EmulatorThread


def test_the_readme_plugin_example(mcemu: EmulatorThread, mcemu_sdk: Any) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(python_block("## Using it from tests"), "README.md", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    assert len(tests) == 1
    tests[0](mcemu, mcemu_sdk)
