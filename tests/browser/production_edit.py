"""Editing a production in the browser: a typo is shown with its error and
the file stays as it was (the test checks it); a new operation shows the
reload plan, is saved, and the engine runs it (the test checks `switchboard
status`).

Arguments: the login URL, the screenshot folder, the production
(namespace/name), the TOML block with a typo, the TOML block to add."""

import sys

from flow import flow

login_url, out, production, typo, addition = sys.argv[1:6]
TEXT = "textarea[name=text]"

with flow(out) as f:
    page = f.page
    page.goto(login_url)
    page.locator("section", has_text=production).get_by_role("link", name="Edit").click()
    page.wait_for_selector(TEXT)
    original = page.input_value(TEXT)
    f.shot("edit")

    page.fill(TEXT, original + "\n" + typo)
    page.click("button[value=save]")
    page.wait_for_selector("ul.errors")
    assert "The file is unchanged." in page.content()
    f.shot("edit-typo")
    f.wait_for_test("typo")

    page.fill(TEXT, original + "\n" + addition)
    page.click("button[value=check]")
    page.wait_for_selector("section.plan")
    plan = page.locator("section.plan").inner_text()
    assert "add operation COPY" in plan, plan
    f.shot("edit-plan")
    page.click("button[value=save]")
    page.wait_for_selector("p.note")
    assert "add operation COPY" in page.locator("p.note").inner_text()
    f.reload_until("COPY on the board", lambda p: p.locator("td", has_text="COPY").count() > 0)
    f.shot("board-after-save")
print("done", flush=True)
