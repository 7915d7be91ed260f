"""The reference tables in the browser: the filter applies as you type,
over every column; the Dictionary's "(Code)" opens the element's values,
which have their own filter.

Arguments: the login URL, the screenshot folder."""

import sys

from flow import flow

login_url, out = sys.argv[1], sys.argv[2]
SHOWN = "table.reference tbody tr:not([hidden])"

with flow(out) as f:
    page = f.page
    base = login_url.split("/login")[0]
    page.goto(login_url)

    page.goto(f"{base}/reference/abstract-syntax")
    everything = page.locator(SHOWN).count()
    page.fill("input[name=filter]", "ct image STORAGE")
    assert 1 <= page.locator(SHOWN).count() < 10, page.locator(SHOWN).count()
    assert "CT Image Storage" in page.locator(SHOWN).first.inner_text()
    page.fill("input[name=filter]", "")
    assert page.locator(SHOWN).count() == everything
    f.shot("abstract-syntax")

    page.goto(f"{base}/reference/transfer-syntax")
    page.fill("input[name=filter]", "1.2.840.10008.1.2.1")
    assert "Explicit VR Little Endian" in page.locator(SHOWN).first.inner_text()
    f.shot("transfer-syntax")

    page.goto(f"{base}/reference/dictionary")
    page.fill("input[name=filter]", "patientsex")
    assert page.locator(SHOWN).count() >= 1
    row = page.locator(SHOWN, has_text="(0010,0040)")
    assert row.count() == 1, page.locator(SHOWN).all_inner_texts()
    f.shot("dictionary")
    row.get_by_role("link", name="(Code)").click()
    page.wait_for_selector("h1:text('Values of')")
    assert page.locator(SHOWN).count() == 3, page.locator(SHOWN).all_inner_texts()
    page.fill("input[name=filter]", "female")
    assert page.locator(SHOWN).count() == 1
    assert page.locator(SHOWN).first.locator("td").first.inner_text() == "F"
    f.shot("codes")

    # Without the script the form's submit filters on the server.
    page.goto(f"{base}/reference/codes?tag=(0008,0060)&filter=computed+tomography")
    assert page.locator(SHOWN).count() == 1, page.locator(SHOWN).all_inner_texts()
    f.shot("codes-submitted")
print("done", flush=True)
