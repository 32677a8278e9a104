"""The other pages and the keyboard: Create Flow done with the keyboard only; the Backbone page shows the
live link between Singapore and Frankfurt with its impairment and counters, and sets a profile and starts a
timeline through the admin API (checked there); the Events page lists the link change; Forbid / Resume
and failover on the flow details page change the flow (a refusal while online shown as it came)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from emulator.testing import EmulatorThread
from mediaplane.netem import profile
from tests.browser.console_steps import exact, open_flow, wait_js

RELAY = {
    "flows": [
        {
            "name": "FlowA",
            "region": "ap-southeast-1",
            "status": "online",
            "input": {"name": "FlowAInput", "protocol": "RTMP-PUSH"},
            "outputs": [{"name": "FlowAOutput", "protocol": "RTMP-PULL"}],
        },
        {
            "name": "FlowB",
            "region": "eu-central-1",
            "status": "online",
            "input": {
                "name": "FlowBInput",
                "protocol": "Flow",
                "pair_flow": "FlowA",
                "pair_output": "FlowAOutput",
            },
            "outputs": [{"name": "FlowBOutput", "protocol": "RTMP-PULL"}],
        },
    ]
}


def get_json(emu: EmulatorThread, path: str) -> Any:
    with urllib.request.urlopen(f"http://{emu.endpoint}{path}", timeout=10) as resp:
        return json.loads(resp.read())


def test_create_flow_with_the_keyboard_only(console_factory: Any) -> None:
    with EmulatorThread() as emu:
        con = console_factory(f"http://{emu.endpoint}/console/")
        page = con.page
        con.open("#/flows")
        exact(page, "button", "Create Flow").wait_for()
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.textContent") == "Create Flow":
                break
        else:
            raise AssertionError("Tab never reached Create Flow")
        page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name="Create Flow")
        dialog.wait_for()
        page.keyboard.type("KeyboardFlow")  # the dialog focuses Flow Name
        page.keyboard.press("Tab")  # Region: the default region, Singapore
        page.keyboard.press("Tab")  # OK
        page.keyboard.press("Enter")
        page.get_by_role("heading", level=1, name="KeyboardFlow", exact=True).wait_for()
        flows = get_json(emu, "/_emulator/state")["flows"]
        assert [(f["name"], f["region"]) for f in flows] == [("KeyboardFlow", "ap-southeast-1")]
        assert con.errors() == [], con.errors()


def test_backbone_page_shows_the_link_and_sets_it(console_factory: Any) -> None:
    with EmulatorThread(RELAY) as emu:
        con = console_factory(f"http://{emu.endpoint}/console/")
        page = con.page
        con.open("#/backbone")
        row = "document.querySelector('tr[data-link]')"
        wait_js(
            page, f"{row} !== null && /[1-9][0-9]* delivered/.test({row}.textContent)", "a live link", row
        )
        text = page.locator("tr[data-link]").inner_text()
        assert "Singapore" in text and "Germany (Frankfurt)" in text, text
        con.shot("backbone-live")

        page.get_by_label("From", exact=True).select_option(label="Singapore")
        page.get_by_label("To", exact=True).select_option(label="Germany (Frankfurt)")
        page.get_by_label("Profile", exact=True).select_option("satellite")
        exact(page, "button", "Set Impairment").click()
        page.get_by_text("Impairment set.", exact=True).wait_for()
        want = profile("satellite").delay_ms
        for pair in ("ap-southeast-1/eu-central-1", "eu-central-1/ap-southeast-1"):  # both ways
            page.locator(f'tr[data-impairment="{pair}"]', has_text=f"delay {want:g} ms").wait_for()
        view = get_json(emu, "/_emulator/links")
        forced = {(i["from"], i["to"]): i["impairment"]["delay_ms"] for i in view["impairments"]}
        assert forced == {("ap-southeast-1", "eu-central-1"): want, ("eu-central-1", "ap-southeast-1"): want}

        page.get_by_label("Timeline steps (JSON)").fill(
            json.dumps({"steps": [{"at_s": 600, "duration_s": 5, "changes": {"outage": True}}]})
        )
        exact(page, "button", "Start Timeline").click()
        page.get_by_text("Timeline started.", exact=True).wait_for()
        page.locator('tr[data-impairment="ap-southeast-1/eu-central-1"]', has_text="running").wait_for()
        assert {i["timeline"] for i in get_json(emu, "/_emulator/links")["impairments"]} == {True}
        page.get_by_label("Timeline steps (JSON)").fill('{"steps": [{"at_s": -1, "profile": "perfect"}]}')
        exact(page, "button", "Start Timeline").click()
        page.locator("[role=alert]", has_text="timeline step 0").wait_for()  # the API's refusal, as it came
        con.shot("backbone-set")

        page.get_by_role("navigation").get_by_role("link", name="Events", exact=True).click()
        page.locator('li[data-type="link.changed"]').first.wait_for()
        con.shot("events")
        assert con.errors(allow_refusals=True) == [], con.errors()


def test_forbid_resume_and_failover_from_the_flow_page(console_factory: Any) -> None:
    with EmulatorThread(RELAY) as emu:
        con = console_factory(f"http://{emu.endpoint}/console/")
        page = con.page
        con.open("#/flows")
        open_flow(page, "FlowB")
        fid = exact(page, "textbox", "Flow ID").input_value()
        exact(page, "tab", "Outputs").click()
        row = page.locator('tr[data-output="FlowBOutput"]')
        exact(row, "button", "Forbid FlowBOutput").click()
        row.get_by_text("Forbidden", exact=True).wait_for()
        out = emu.run(lambda: emu.em.manager.get_output(fid, "FlowBOutput"))
        assert out.forbid
        con.shot("output-forbidden")
        exact(row, "button", "Resume FlowBOutput").click()
        row.get_by_text("Active", exact=True).wait_for()
        assert not emu.run(lambda: emu.em.manager.get_output(fid, "FlowBOutput")).forbid

        exact(page, "tab", "Source").click()
        exact(page, "button", "Enable Failover").click()  # refused while online: the banner says why
        page.locator("#banner", has_text="is online; set it offline before opening failover").wait_for()
        exact(page.locator('[data-panel="status"]'), "button", "Stop").click()
        page.locator('[data-panel="status"] .badge', has_text="offline").wait_for()
        exact(page, "button", "Enable Failover").click()
        exact(page, "button", "Add Backup Source").wait_for()
        assert emu.run(lambda: emu.em.manager.get_flow(fid).failover_open)
        con.shot("failover-on")
        assert con.errors(allow_refusals=True) == [], con.errors()
