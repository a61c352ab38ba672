"""Playwright (Python) driving Debian's Chromium; skipped with a reason where /usr/bin/chromium is absent."""

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The machine has no internet: without these flags Chromium stalls on background network calls.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make are still plain sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# The simulator signs Meta's webhooks with this secret, and the server started by `meta_server` checks them with it.
META_SECRET = "e2e-meta-secret"
META_APP_ID = "42"
FIRST_PAGE_ID = "100000000000001"  # the Facebook page the simulator provisions first


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module: Playwright's sync API keeps an event loop running in this thread while it is
    open, which would break later non-browser tests that call async_to_sync."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (.ci/run does) to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def browser_page(browser, *, timeout: float = 15_000, **options):
    """A page in a context of its own (its own cookies: one person signed in), 1280×800 in Japanese unless
    `options` (Playwright's new_context arguments) say otherwise; the context is closed on leaving."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, "locale": "ja-JP", **options})
    try:
        page = context.new_page()
        page.set_default_timeout(timeout)
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser):
    with browser_page(browser, timeout=10_000) as page:
        yield page


def csp_refusals(page) -> list[str]:
    """The list the page's Content-Security-Policy refusals are added to, as its console reports them (a test
    asserts it stays empty)."""
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return refused


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    # caret="initial": Playwright otherwise hides the caret with an inline style it leaves behind (style=""), which
    # htmx copies onto refreshed fields and the Content-Security-Policy then refuses.
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, caret="initial")


@pytest.fixture
def asgi_server(transactional_db):
    """uvicorn serving the app (HTTP + WebSocket) against the test database; data must be committed
    (transactional tests)."""
    from tests.e2e.asgi_server import AsgiServer

    server = AsgiServer()
    yield server
    server.stop()


@pytest.fixture
def live_simulator():
    """The platforms' simulator on a port of its own; its Meta part signs webhooks with META_SECRET."""
    from channels_integrations.simulator.core import Simulator

    sim = Simulator(webhook_base="http://127.0.0.1:1", meta_app_secret=META_SECRET, meta_app_id=META_APP_ID).start()
    yield sim
    sim.stop()


@pytest.fixture
def simulated_server(transactional_db, live_simulator):
    """Start uvicorn serving the app with these settings (the platform URLs at the simulator): `server =
    simulated_server(LINE_API_URL=sim.base_url)`. The simulator's webhooks go to it; it stops after the test."""
    from tests.e2e.asgi_server import AsgiServer

    servers = []

    def start(**settings):
        server = AsgiServer(**settings)
        servers.append(server)
        live_simulator.webhook_base = server.url
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def meta_server(live_simulator, simulated_server):
    """The server with Meta's Graph, dialog and Instagram URLs at the simulator, and the simulator's app secret."""
    base = live_simulator.base_url
    return simulated_server(
        META_APP_SECRET=META_SECRET,
        META_APP_ID=META_APP_ID,
        META_GRAPH_URL=base,
        META_DIALOG_URL=base,
        INSTAGRAM_GRAPH_URL=base,
    )


def off_loop(fn):
    """Run domain code outside Playwright's event loop (as a worker process would), return its result."""
    from django.db import connection as db

    def run():
        try:
            return fn()
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def granted_connection(tenant, *, users, credentials: dict, platform="facebook", account_id=FIRST_PAGE_ID, **fields):
    """A channel connected with `credentials` and granted to `users` by the owner (call it through off_loop): by
    default the simulator's first Facebook page, named デモストア; `fields` are the connection's other fields."""
    from accounts import services as account_services
    from channels_integrations.models import ChannelConnection

    with tenant.scope():
        connection = ChannelConnection(
            organization=tenant.organization,
            platform=platform,
            external_account_id=account_id,
            **{"display_name": "デモストア", **fields},
        )
        connection.set_credentials(credentials)
        connection.save()
        account_services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=connection, users=users
        )
    return connection


def open_from_menu(page, base_url: str, slug: str, path: str, *, menu: str = "nav.sidebar") -> None:
    """From the organization's home, click the menu's link to `/<slug>/<path>` (where a person starts)."""
    page.goto(f"{base_url}/{slug}/")
    page.locator(f"{menu} a[href='/{slug}/{path}']").click()


def sign_in(page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.locator("#id_email").fill(email)
    page.locator("#id_password").fill(password)
    page.locator("form button.primary").click()
    page.wait_for_load_state("domcontentloaded")
