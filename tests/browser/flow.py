"""What every portal flow shares: Debian's chromium driven by playwright,
full-page screenshots into the test's output folder (and one on any
failure, with the page's HTML), and the line protocol with the test: the
flow prints `wait <what>` and goes on when the test answers a line."""

import contextlib
import pathlib
import sys
import time

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"

# Without the background-networking flags chromium keeps trying hosts this
# machine cannot reach; --no-sandbox because the suite may run as root.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Flow:
    def __init__(self, page, out):
        self.page = page
        self.out = out

    def shot(self, name):
        """A full-page screenshot, `<out>/<name>.png`."""
        self.page.screenshot(path=str(self.out / f"{name}.png"), full_page=True)

    def wait_for_test(self, what):
        """Lets the test act (it answers with a line when done)."""
        print(f"wait {what}", flush=True)
        if not sys.stdin.readline():
            raise SystemExit(f"the test went away while the flow waited for {what}")

    def reload_until(self, what, ready, timeout=60):
        """Reloads the page until `ready(page)` holds."""
        deadline = time.monotonic() + timeout
        while not ready(self.page):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.25)
            self.page.reload()


@contextlib.contextmanager
def flow(out):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(20_000)
        try:
            yield Flow(page, out)
        except BaseException:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(out / "failure.png"), full_page=True)
                (out / "failure.html").write_text(page.content())
            raise
        finally:
            browser.close()
