"""Refusals in the browser, each shown as the ICE API words it (its Code and Message, exactly as the API
answers the same call) under the field it names, and changing nothing: a flow name the API refuses, then
the seed's note ("If adding the source fails, verify that the Flow ID and Output Name match the values
from Flow A"): a wrong Flow ID and a wrong Output Name, after which the right pair is accepted; deleting
an online flow. Then the console with access keys: it asks for an AccessKey pair and signs every call
(V3 in the browser).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from emulator.testing import EmulatorThread
from tests.browser.console_steps import add_output, add_source, create_flow, exact, go_to_flows, start

AK = ("console-key", "console-secret-0123456789")


def ice(emu: EmulatorThread, action: str, **params: str) -> tuple[int, dict[str, Any]]:
    """One unsigned ICE RPC call (the emulator has no keys here): (HTTP status, JSON body)."""
    query = urllib.parse.urlencode({"Action": action, "Version": "2020-11-09", **params})
    req = urllib.request.Request(f"http://{emu.endpoint}/?{query}", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def refusal_text(emu: EmulatorThread, action: str, **params: str) -> str:
    status, body = ice(emu, action, **params)
    assert status >= 400, body
    return f"{body['Code']}: {body['Message']}"


def field_error(dialog: Any, label: str) -> str:
    box = dialog.get_by_label(label, exact=True)
    return str(dialog.locator(f"#{box.get_attribute('aria-describedby')}").inner_text())


def test_wrong_flow_id_and_output_name_show_the_api_refusal(console_factory: Any) -> None:
    with EmulatorThread() as emu:
        con = console_factory(f"http://{emu.endpoint}/console/")
        page = con.page
        con.open("#/flows")
        go_to_flows(page)
        exact(page, "button", "Create Flow").click()  # a name the API refuses: its message under Flow Name
        dialog = page.get_by_role("dialog", name="Create Flow")
        dialog.get_by_label("Flow Name").fill("Flow A!")
        exact(dialog, "button", "OK").click()
        want = refusal_text(emu, "CreateMediaConnectFlow", FlowName="Flow A!", FlowRegion="ap-southeast-1")
        dialog.get_by_text(want, exact=True).wait_for()
        assert field_error(dialog, "Flow Name") == want
        exact(dialog, "button", "Cancel").click()
        a_id = create_flow(page, "FlowA", "Singapore")
        add_source(page, {"Source Name": "FlowAInput", "Protocol": "RTMP-PUSH"})
        add_output(page, {"Output Name": "FlowAOutput", "Protocol": "RTMP-PULL"})
        go_to_flows(page)
        b_id = create_flow(page, "FlowB", "Germany (Frankfurt)")

        wrong_id = {"Source Name": "FlowBInput", "Protocol": "Flow", "Flow ID": "no-such-flow"}
        dialog = add_source(page, {**wrong_id, "Output Name": "FlowAOutput"}, expect_ok=False)
        want = refusal_text(
            emu, "AddMediaConnectFlowInput", FlowId=b_id, InputName="FlowBInput", InputProtocol="Flow",
            PairFlowId="no-such-flow", PairOutputName="FlowAOutput",
        )  # fmt: skip
        dialog.get_by_text(want, exact=True).wait_for()
        assert field_error(dialog, "Flow ID") == want
        assert dialog.get_by_label("Flow ID", exact=True).get_attribute("aria-invalid") == "true"
        con.shot("refusal-flow-id")

        dialog.get_by_label("Flow ID", exact=True).fill(a_id)
        dialog.get_by_label("Output Name", exact=True).fill("NoSuchOutput")
        exact(dialog, "button", "OK").click()
        want = refusal_text(
            emu, "AddMediaConnectFlowInput", FlowId=b_id, InputName="FlowBInput", InputProtocol="Flow",
            PairFlowId=a_id, PairOutputName="NoSuchOutput",
        )  # fmt: skip
        dialog.get_by_text(want, exact=True).wait_for()
        assert field_error(dialog, "Output Name") == want
        assert field_error(dialog, "Flow ID") == ""
        con.shot("refusal-output-name")
        assert ice(emu, "GetMediaConnectFlowInput", FlowId=b_id)[0] == 404, "a refused source was added"

        dialog.get_by_label("Output Name", exact=True).fill("FlowAOutput")
        exact(dialog, "button", "OK").click()
        dialog.wait_for(state="detached")
        page.locator('[data-input="FlowBInput"]').wait_for()

        # Delete while online: the API refuses, the dialog shows why, the flow stays.
        start(page)
        exact(page, "button", "Delete").click()
        dialog = page.get_by_role("dialog", name="Delete Flow")
        exact(dialog, "button", "OK").click()
        want = refusal_text(emu, "DeleteMediaConnectFlow", FlowId=b_id)
        dialog.get_by_text(want, exact=True).wait_for()
        con.shot("refusal-delete-online")
        exact(dialog, "button", "Cancel").click()
        assert ice(emu, "GetMediaConnectFlow", FlowId=b_id)[0] == 200
        assert con.errors(allow_refusals=True) == [], con.errors()


def test_with_access_keys_the_console_asks_for_a_key_and_signs(console_factory: Any) -> None:
    with EmulatorThread({"access_keys": {AK[0]: AK[1]}}) as emu:
        client = emu.sdk_client(access_key_id=AK[0], secret=AK[1])
        con = console_factory(f"http://{emu.endpoint}/console/")
        page = con.page
        con.open("#/flows")
        dialog = page.get_by_role("dialog", name="AccessKey")
        dialog.get_by_label("AccessKey ID").fill(AK[0])
        dialog.get_by_label("AccessKey Secret").fill("not-the-secret")
        exact(dialog, "button", "OK").click()
        # A wrong secret: the API's SignatureDoesNotMatch comes back in the same dialog.
        dialog.get_by_text("SignatureDoesNotMatch", exact=False).wait_for()
        dialog.get_by_label("AccessKey Secret").fill(AK[1])
        exact(dialog, "button", "OK").click()
        dialog.wait_for(state="hidden")
        page.locator("#conn", has_text="events: live").wait_for()
        flow_id = create_flow(page, "SignedFlow", "Singapore")
        add_source(page, {"Source Name": "SignedInput", "Protocol": "RTMP-PUSH"})
        con.shot("signed-flow")
        from alibabacloud_ice20201109 import models

        got = client.get_media_connect_flow_input(models.GetMediaConnectFlowInputRequest(flow_id=flow_id))
        assert got.body.content.input_name == "SignedInput"
        assert con.errors(allow_refusals=True) == [], con.errors()
