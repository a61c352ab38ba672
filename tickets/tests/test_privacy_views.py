"""The privacy pages and API: a contact's export (asked for, built, downloaded once by the requester), erasure with
a typed confirmation, and Settings → Data retention with its dry-run count; who may, and query budgets."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.english import english, in_english  # noqa: F401 (fixture: these tests read English sentences)
from tickets.models import Contact, ContactExport, ExportStatus, RetentionPolicy, Ticket
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant_a(tenant_a):
    """The organization speaks English: these tests read the pages' English sentences."""
    return in_english(tenant_a)


@pytest.fixture
def tenant_b(tenant_b):
    return in_english(tenant_b)


NAME = "轟木 綾乃"


def _customer(tenant, text="返金をお願いします", thread="U-ayano"):
    conn = connection(tenant)
    with tenant.scope():
        message, _ = message_ingest(
            organization=tenant.organization,
            connection=conn,
            inbound=inbound(text, thread=thread, author=thread, name=NAME),
        )
        return message.ticket.contact


def _zip(response) -> dict:
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    return json.loads(archive.read("contact.json"))


def test_a_manager_exports_a_contact_and_downloads_it_once(
    tenant_a, login, settings, tmp_path, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    settings.MEDIA_ROOT = tmp_path
    contact = _customer(tenant_a)
    client = login(tenant_a.users["manager"])
    base = f"/{tenant_a.slug}/contacts/{contact.pk}/privacy/"
    with django_assert_max_num_queries(20):
        page = client.get(base)
    assert page.status_code == 200 and "Prepare export" in page.content.decode()
    assert 'id="privacy-erase"' not in page.content.decode()  # a manager may export, not erase
    with django_capture_on_commit_callbacks(execute=True):  # the build task runs (eagerly) after the commit
        response = client.post(f"{base}export/")
    assert response.status_code == 302
    with tenant_a.scope():
        export = ContactExport.objects.get()
    assert export.status == ExportStatus.READY
    page = client.get(base).content.decode()
    link = f"/{tenant_a.slug}/privacy/exports/{export.pk}/download/"
    assert link in page
    # Someone else with the same rights cannot take it (not even learn it exists).
    assert login(tenant_a.users["admin"]).get(link).status_code == 404
    client = login(tenant_a.users["manager"])
    download = client.get(link)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"].startswith("attachment")
    assert _zip(download)["contact"]["name"] == NAME
    again = client.get(link)
    assert again.status_code == 302  # back to the page, which says it was already downloaded
    with tenant_a.scope():
        assert ContactExport.objects.get().status == ExportStatus.DOWNLOADED


def test_an_agent_cannot_reach_the_privacy_page(tenant_a, login):
    contact = _customer(tenant_a)
    client = login(tenant_a.users["agent"])
    assert client.get(f"/{tenant_a.slug}/contacts/{contact.pk}/privacy/").status_code == 403
    assert client.post(f"/{tenant_a.slug}/contacts/{contact.pk}/privacy/export/").status_code == 403


def test_an_admin_erases_after_typing_the_confirmation(tenant_a, login):
    contact = _customer(tenant_a)
    url = f"/{tenant_a.slug}/contacts/{contact.pk}/privacy/erase/"
    assert login(tenant_a.users["manager"]).post(url, {"confirmation": str(contact.pk)}).status_code == 403
    client = login(tenant_a.users["admin"])
    refused = client.post(url, {"confirmation": "delete"})
    assert refused.status_code == 400 and "cannot be undone" in refused.content.decode()
    with tenant_a.scope():
        assert Contact.objects.get(pk=contact.pk).name == NAME
    response = client.post(url, {"confirmation": str(contact.pk)})
    assert response.status_code == 302
    with tenant_a.scope():
        assert Contact.objects.get(pk=contact.pk).name == ""
        assert set(Ticket.objects.get(contact=contact).messages.values_list("text", flat=True)) == {""}
    page = client.get(response["Location"]).content.decode()
    assert 'id="privacy-erased"' in page and NAME not in page


def test_retention_settings_show_the_dry_run_count_and_save(tenant_a, login, django_assert_max_num_queries):
    conn = connection(tenant_a)
    with tenant_a.scope():
        for i in range(3):
            message, _ = message_ingest(
                organization=tenant_a.organization,
                connection=conn,
                inbound=inbound("old", thread=f"t{i}", author=f"a{i}"),
            )
            Ticket.objects.filter(pk=message.ticket_id).update(
                status="closed", status_changed_at=timezone.now() - timedelta(days=100 + i)
            )
    url = f"/{tenant_a.slug}/settings/data-retention/"
    assert login(tenant_a.users["manager"]).get(url).status_code == 403
    client = login(tenant_a.users["admin"])
    with django_assert_max_num_queries(20):
        page = client.get(url).content.decode()
    assert "0 conversations are older than 730 days" in page
    counted = client.post(url, {"days": "90", "action": "anonymize", "intent": "count"}).content.decode()
    assert "3 conversations are older than 90 days" in counted
    with tenant_a.scope():
        assert not RetentionPolicy.objects.exists()  # counting saves nothing
    bad = client.post(url, {"days": "0", "action": "anonymize", "intent": "save"})
    assert bad.status_code == 400
    saved = client.post(url, {"enabled": "on", "days": "101", "action": "delete", "intent": "save"})
    assert saved.status_code == 302
    with tenant_a.scope():
        policy = RetentionPolicy.objects.get()
        assert (policy.enabled, policy.days, policy.action) == (True, 101, "delete")
    assert "2 conversations are older than 101 days" in client.get(url).content.decode()


def test_privacy_api(tenant_a, tenant_b, api_client_for, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    contact = _customer(tenant_a)
    base = f"/api/v1/orgs/{tenant_a.slug}"
    manager = api_client_for(tenant_a, "manager")
    with django_capture_on_commit_callbacks(execute=True):
        created = manager.post(f"{base}/contacts/{contact.pk}/export/")
    assert created.status_code == 202
    detail = manager.get(f"{base}/privacy/exports/{created.json()['id']}/").json()
    assert detail["status"] == "ready" and detail["download_url"]
    download = manager.get(detail["download_url"])
    assert download.status_code == 200 and _zip(download)["contact"]["name"] == NAME
    assert manager.get(detail["download_url"]).status_code == 400

    owner = api_client_for(tenant_a, "owner")
    assert manager.post(f"{base}/contacts/{contact.pk}/erase/", {"confirmation": str(contact.pk)}).status_code == 403
    wrong = owner.post(f"{base}/contacts/{contact.pk}/erase/", {"confirmation": "x"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["fields"]
    erased = owner.post(f"{base}/contacts/{contact.pk}/erase/", {"confirmation": str(contact.pk)}, format="json")
    assert erased.status_code == 200 and erased.json()["messages"] == 1

    retention = owner.get(f"{base}/privacy/retention/").json()
    assert retention["enabled"] is False and retention["dry_run_count"] == 0
    put = owner.put(f"{base}/privacy/retention/", {"enabled": True, "days": 30, "action": "anonymize"}, format="json")
    assert put.status_code == 200 and put.json()["days"] == 30
    assert (
        owner.put(f"{base}/privacy/retention/", {"enabled": True, "days": 0, "action": "x"}, format="json").status_code
        == 400
    )

    # Another organization's member: 404 for this organization's contact, whatever their role there.
    other = api_client_for(tenant_b, "owner")
    assert other.post(f"/api/v1/orgs/{tenant_b.slug}/contacts/{contact.pk}/export/").status_code == 404


def test_the_contact_profile_shows_the_privacy_actions_to_those_who_may(tenant_a, login):
    contact = _customer(tenant_a)
    profile = f"/{tenant_a.slug}/contacts/{contact.pk}/"
    page = login(tenant_a.users["admin"]).get(profile).content.decode()
    assert 'id="contact-privacy"' in page
    assert f"/{tenant_a.slug}/contacts/{contact.pk}/privacy/export/" in page
    assert f"/{tenant_a.slug}/contacts/{contact.pk}/privacy/#privacy-erase" in page
    manager = login(tenant_a.users["manager"]).get(profile).content.decode()
    assert "privacy/export/" in manager and "#privacy-erase" not in manager
    agent = login(tenant_a.users["agent"]).get(profile)
    assert 'id="contact-privacy"' not in agent.content.decode()
