"""Messages sent to an archive that is down fail; the archive starts; they
are resent from the portal and turn delivered.

Arguments: the login URL, the screenshot folder."""

import sys

from flow import flow

login_url, out = sys.argv[1], sys.argv[2]

with flow(out) as f:
    page = f.page
    page.goto(login_url)
    assert page.locator("h1").inner_text() == "Productions", page.content()
    assert page.locator("td.running").count() > 0, "the board shows running items"
    f.shot("board")
    page.click("table >> text=OUT")
    page.wait_for_selector("h2:text('Settings')")
    assert "max_attempts" in page.locator("pre").inner_text()
    f.shot("item")
    page.goto(login_url.split("/login")[0] + "/ae?ns=browser")
    page.wait_for_selector("h1:text('AE directory')")
    f.shot("ae-directory")

    base = login_url.split("/login")[0]
    failed = "table.messages td.failed"
    page.goto(f"{base}/messages?status=failed")
    f.reload_until("two failed messages", lambda p: p.locator(failed).count() == 2)
    assert "Doe^Jane" not in page.content(), "no patient data in the list"
    f.shot("messages-failed")

    page.locator("table.messages tbody a").first.click()
    page.wait_for_selector("h2:text('Visual trace')")
    assert page.locator("table.trace td.event.failed").count() >= 1
    f.shot("message")

    page.goto(f"{base}/events?level=warn&item=OUT")
    assert page.locator("table.events tbody tr").count() >= 2, page.content()
    assert "Message failed" in page.locator("table.events").inner_text()
    f.shot("events")
    page.goto(f"{base}/queues")
    assert page.locator("table.queues td", has_text="OUT").count() == 1
    f.shot("queues")

    f.wait_for_test("archive")

    page.goto(f"{base}/messages?status=failed")
    for box in page.locator("table.messages input[type=checkbox]").all():
        box.check()
    page.get_by_role("button", name="Resend selected…").click()
    page.wait_for_selector("h1:text('Resend 2 messages?')")
    f.shot("resend-confirm")
    page.get_by_role("button", name="Resend", exact=True).click()
    page.wait_for_selector("p.note")
    assert "Queued again: 2 message(s)" in page.locator("p.note").inner_text()

    page.goto(f"{base}/messages")
    delivered = "table.messages td.delivered"
    f.reload_until("both delivered", lambda p: p.locator(delivered).count() == 2)
    f.shot("messages-delivered")
print("done", flush=True)
