"""The platform simulator for connector tests: started in-process on a loopback port; the product's platform base
URLs point at it. Its webhooks reach Django through the test client (same thread, same test transaction), so
tests drive customers through the parts' Python methods (sim.parts["meta"]...) in the test's own thread."""

from urllib.parse import urlsplit

import pytest
from django.test import Client

from channels_integrations.simulator.core import Simulator

META_APP_SECRET = "test_app_secret"
META_VERIFY_TOKEN = "test_verify_token"
META_APP_ID = "1234567890"


@pytest.fixture
def simulator(settings):
    settings.META_APP_SECRET = META_APP_SECRET
    settings.META_VERIFY_TOKEN = META_VERIFY_TOKEN
    settings.META_APP_ID = META_APP_ID
    sim = Simulator(
        webhook_base="http://testserver",
        meta_app_secret=META_APP_SECRET,
        meta_app_id=META_APP_ID,
        meta_verify_token=META_VERIFY_TOKEN,
    ).start()
    settings.META_GRAPH_URL = sim.base_url
    settings.META_DIALOG_URL = sim.base_url
    settings.INSTAGRAM_GRAPH_URL = sim.base_url
    client = Client()

    def transport(url: str, body: bytes, headers: dict[str, str]) -> int:
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        content_type = headers.get("Content-Type", "application/json")
        return client.post(urlsplit(url).path, data=body, content_type=content_type, headers=extra).status_code

    sim.transport = transport
    yield sim
    sim.stop()
