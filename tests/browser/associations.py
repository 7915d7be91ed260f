"""DICOM Settings in the browser: a new association with a missing AE title
is refused in red; created; two presentation contexts added and their
transfer syntaxes moved and reordered (the test then checks the order in
`association show` and in what the engine accepts from pynetdicom); echoed
and tested against a DCMTK storescp;
exported; an import with a bad line shows its line number; deleted after a
confirmation.

Echo and Test run against the storescp the test started.

Arguments: the login URL, the screenshot folder, the namespace, the
storescp's port."""

import sys

from flow import flow

login_url, out, ns, peer_port = sys.argv[1:5]
VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
NEW = "form[action='/associations/add']"
ADD = "form[action='/associations/context'] button[value=add]"


def selected(page):
    return [o.get_attribute("value") for o in page.locator("select[name=selected] option").all()]


def add_context(f, sop_filter, sop_class, syntaxes):
    page = f.page
    page.fill("input[name=sop]", sop_filter)
    page.click("form.filter button")
    page.select_option("select[name=abstract_syntax]", sop_class)
    page.select_option("select[name=transfer_syntax]", syntaxes)
    page.click(ADD)
    page.wait_for_selector("select[name=selected]")


with flow(out) as f:
    page = f.page
    base = login_url.split("/login")[0]
    page.goto(login_url)
    page.goto(f"{base}/associations?ns={ns}")
    f.shot("associations")

    page.fill(f"{NEW} input[name=calling]", "VIEWER")
    page.click(f"{NEW} button")
    assert page.locator("input.invalid").count() == 1, page.content()
    assert "required" in page.locator("span.error").inner_text()
    f.shot("association-invalid")
    page.fill(f"{NEW} input[name=called]", "ENS-SCP")
    page.fill(f"{NEW} input[name=name]", "Viewer")
    page.click(f"{NEW} button")
    page.wait_for_selector("h1:text('Association VIEWER → ENS-SCP')")

    # Verification: Implicit and Explicit, then Explicit first.
    add_context(f, "verification", VERIFICATION, [IMPLICIT, EXPLICIT])
    assert selected(page) == [IMPLICIT, EXPLICIT], selected(page)
    page.select_option("select[name=selected]", EXPLICIT)
    page.click("button[value=up]")
    page.wait_for_load_state()
    assert selected(page) == [EXPLICIT, IMPLICIT], selected(page)
    f.shot("context-verification")

    # CT Image Storage: Explicit, Implicit moved over from Available, then
    # Implicit first.
    page.click("text=Association VIEWER → ENS-SCP")
    add_context(f, "ct image storage", CT, [EXPLICIT])
    page.select_option("select[name=available]", IMPLICIT)
    page.click("button[value=select]")
    page.wait_for_load_state()
    assert selected(page) == [EXPLICIT, IMPLICIT], selected(page)
    page.select_option("select[name=selected]", IMPLICIT)
    page.click("button[value=up]")
    page.wait_for_load_state()
    assert selected(page) == [IMPLICIT, EXPLICIT], selected(page)
    f.shot("context-ct")
    page.click("text=Association VIEWER → ENS-SCP")
    f.shot("association")

    # Echo and Test against DCMTK's storescp.
    probe = "form[action='/associations/probe']"
    page.fill(f"{probe} input[name=address]", f"127.0.0.1:{peer_port}")
    page.click(f"{probe} button[value=echo]")
    page.wait_for_selector("p.summary")
    assert "Echo succeeded with Explicit VR Little Endian" in page.locator("p.summary").inner_text(), page.content()
    assert "A-ASSOCIATE-AC" in page.locator("pre.trace").inner_text(), page.content()
    f.shot("echo")
    page.go_back()
    page.fill(f"{probe} input[name=address]", f"127.0.0.1:{peer_port}")
    page.click(f"{probe} button[value=test]")
    page.wait_for_selector("p.summary")
    assert "2 of 2 presentation contexts accepted" in page.locator("p.summary").inner_text(), page.content()
    assert page.locator("table.outcomes td.delivered").count() == 2
    f.shot("test")
    page.click("text=Back to the association")

    f.wait_for_test("check")

    with page.expect_download() as download:
        page.click("text=Export")
    exported = open(download.value.path()).read()
    assert f"{VERIFICATION}\\{EXPLICIT}" in exported, exported

    page.goto(f"{base}/associations/import?ns={ns}")
    importing = "form[action='/associations/import']"
    page.fill(f"{importing} input[name=calling]", "IMPORTED")
    page.fill(f"{importing} input[name=called]", "ENS-SCP")
    page.set_input_files(
        f"{importing} input[name=file]",
        files=[{"name": "contexts.txt", "mimeType": "text/plain",
                "buffer": f"{VERIFICATION}\nnot-a-uid\n".encode()}],
    )
    page.click(f"{importing} button")
    page.wait_for_selector("ul.errors")
    assert "the uploaded file:2:" in page.locator("ul.errors").inner_text()
    f.shot("import-error")

    page.goto(f"{base}/associations?ns={ns}")
    page.click("text=VIEWER")
    page.click("text=Delete…")
    f.shot("delete-confirm")
    page.get_by_role("button", name="Delete").click()
    page.wait_for_selector("p.note")
    assert "Deleted association" in page.locator("p.note").inner_text()
    assert page.locator("text=IMPORTED").count() == 0, "the bad import stored nothing"
    f.shot("associations-after-delete")
print("done", flush=True)
