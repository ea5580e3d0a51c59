"""The console in a real browser: the system's Chromium, driven by Playwright.

Walks sign in, create, watch it complete, download and check the file, delete and
sign out, plus a failed sign-in and a CSRF attempt. Screenshots of each page go
to a temporary directory; with POND_UPDATE_SCREENSHOTS=1 the main ones are copied
into docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from pond.console import service
from pond.events import seeding
from pond.snapshots.dates import parse_instant
from tests.conftest import RunningServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "Chromium is not installed (on Debian: apt-get install -y chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
)

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MAIN_SCREENSHOTS = {
    "sign-in",
    "snapshots",
    "snapshots-list",
    "snapshot-complete",
    "snapshots-phone",
    "operator",
}
T = TypeVar("T")
FROM, TO = "2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.000Z"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def shoot(tmp_path: Path) -> Iterator[Callable[[Any, str], None]]:
    """Take a full-page screenshot named `name`; copy the main ones into docs when asked."""
    taken: list[Path] = []

    def take(page: Any, name: str) -> None:
        path = tmp_path / "screenshots" / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)

    yield take
    if os.environ.get("POND_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for path in taken:
            if path.stem in MAIN_SCREENSHOTS:
                shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)


def off_loop(action: Callable[..., T], *args: Any) -> T:
    """Run `action` in another thread: Playwright's sync API keeps an event loop running here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(action, *args).result()


def sign_in(page: Any, base_url: str, client_id: str, secret: str) -> None:
    page.goto(f"{base_url}/console")
    page.get_by_label("Client id").fill(client_id)
    page.get_by_label("Client secret").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def test_client_path_in_a_real_browser(
    chromium: Any,
    pond_server: RunningServer,
    client_credentials: Callable[[str], tuple[str, str]],
    shoot: Callable[[Any, str], None],
) -> None:
    client_id, secret = off_loop(client_credentials, "acme")
    seeding.seed(
        pond_server.conninfo,
        org="acme",
        start=parse_instant("f", FROM),
        end=parse_instant("t", TO),
        count=250,
    )
    base = pond_server.base_url
    # A browser in Paris: the form must show that zone and send UTC.
    context = chromium.new_context(timezone_id="Europe/Paris", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)

    page.goto(f"{base}/console")
    shoot(page, "sign-in")
    sign_in(page, base, client_id, "wrong-secret")
    sync_api.expect(page.get_by_role("alert")).to_contain_text("client id or secret is wrong")
    shoot(page, "sign-in-failed")

    sign_in(page, base, client_id, secret)
    sync_api.expect(page.get_by_role("heading", name="Snapshots of acme")).to_be_visible()
    sync_api.expect(page.locator("label[for=from_local]")).to_contain_text("Europe/Paris")
    page.get_by_label("From").fill("2019-03-13T19:00:00")
    page.get_by_label("To, excluded").fill("2019-03-28T19:00:00")
    shoot(page, "snapshots")
    polls: list[str] = []
    page.on("response", lambda r: polls.append(r.url) if "/status?wait=" in r.url else None)
    page.get_by_role("button", name="Create snapshot").click()

    page.wait_for_url(re.compile(r"/console/snapshots/[0-9a-f-]{36}$"))
    snapshot_id = page.url.rsplit("/", 1)[1]
    with psycopg.connect(pond_server.conninfo) as conn:
        row = conn.execute(
            "SELECT created_at_from, created_at_to FROM snapshots WHERE id = %s", (snapshot_id,)
        ).fetchone()
    assert row == (parse_instant("f", FROM), parse_instant("t", TO))

    # The page long-polls its files fragment: the link appears without a reload.
    first_state = page.locator("#parts").get_attribute("data-state")
    link = page.get_by_role("link", name="event_000.csv")
    sync_api.expect(link).to_be_visible(timeout=30_000)
    if first_state in ("pending", "running"):
        assert polls, "the link appeared but the page never polled"
        assert page.url.endswith(snapshot_id)
    shoot(page, "snapshot-complete")
    with page.expect_download() as download_info:
        link.click()
    downloaded = Path(download_info.value.path())
    with downloaded.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["id", "created_at"]
    assert len(rows) == 251

    page.goto(f"{base}/console")
    sync_api.expect(page.get_by_role("link", name=re.compile(snapshot_id[:8]))).to_be_visible()
    shoot(page, "snapshots-list")

    phone = chromium.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    phone.add_cookies(context.cookies())
    phone_page = phone.new_page()
    phone_page.goto(f"{base}/console")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the list page scrolls sideways on a phone ({width} px)"
    shoot(phone_page, "snapshots-phone")
    phone.close()

    # A forged form (wrong CSRF token) is refused and deletes nothing.
    page.goto(f"{base}/console/snapshots/{snapshot_id}")
    page.locator("form[data-confirm] input[name=csrf_token]").evaluate(
        "input => { input.value = 'forged-token-forged-token-forged-token-xx'; }"
    )
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete snapshot").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("security token")
    shoot(page, "csrf-refused")

    page.goto(f"{base}/console/snapshots/{snapshot_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete snapshot").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text(f"{snapshot_id} was deleted")
    shoot(page, "snapshot-deleted")

    page.get_by_role("button", name="Sign out").click()
    sync_api.expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "pond_console"]
    context.close()


def test_operator_view_in_a_real_browser(
    chromium: Any,
    pond_server: RunningServer,
    shoot: Callable[[Any, str], None],
) -> None:
    async def make_operator() -> str:
        async with await psycopg.AsyncConnection.connect(
            pond_server.conninfo, autocommit=True
        ) as conn:
            return await service.create_operator(conn, "ops")

    password = off_loop(asyncio.run, make_operator())
    page = chromium.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{pond_server.base_url}/console/operator")
    page.get_by_label("Operator name").fill("ops")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Name", exact=True).fill("reporting team")
    page.get_by_label("Organisation").fill("acme")
    page.get_by_role("button", name="Create client").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("shown this once")
    secret = page.locator("#new-client-secret").inner_text()
    assert len(secret) == 52
    page.get_by_role("link", name="Back to the operator view").click()
    sync_api.expect(page.get_by_role("cell", name="reporting team", exact=True)).to_be_visible()
    shoot(page, "operator")
    page.close()
