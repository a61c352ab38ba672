"""Stored attachments are served only to members who may see their ticket, through core.files.serve_file: raster
images inline, anything that can carry script as a download, nosniff and a sandboxing CSP always, offloaded to the web
server when configured; storage names are random."""

import re

import pytest

from accounts import services as account_services
from channels_integrations.inbound import InboundAttachment
from core.files import SANDBOX_CSP
from tickets.models import Attachment
from tickets.models.core import attachment_upload_to
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n fake image bytes"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.FILES_OFFLOAD = ""


def _attachment(tenant, filename="破損した箱.png", content_type="image/png", content=PNG, conn=None) -> Attachment:
    conn = conn or connection(tenant, "email")
    file = InboundAttachment(filename, content_type, content=content)
    with tenant.scope():
        message, _created = message_ingest(
            organization=tenant.organization,
            connection=conn,
            inbound=inbound("写真です", thread=f"files-{filename}", attachments=(file,)),
        )
        return message.attachments.get()


def _url(tenant, attachment: Attachment) -> str:
    return f"/{tenant.slug}/attachments/{attachment.pk}/"


def test_a_member_who_sees_the_ticket_gets_an_image_inline_with_safe_headers(tenant_a, login):
    photo = _attachment(tenant_a)
    response = login(tenant_a.users["manager"]).get(_url(tenant_a, photo))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("inline;") and "filename*=utf-8''" in disposition  # the Japanese name, encoded
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == SANDBOX_CSP == "sandbox; default-src 'none'"
    assert "private" in response["Cache-Control"]


def test_an_agent_without_access_to_the_channel_gets_404_until_granted(tenant_a, login):
    conn = connection(tenant_a, "email")
    photo = _attachment(tenant_a, conn=conn)
    client = login(tenant_a.users["agent"])
    assert client.get(_url(tenant_a, photo)).status_code == 404
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], connection=conn,
            users=[tenant_a.users["agent"]],
        )  # fmt: skip
    assert client.get(_url(tenant_a, photo)).status_code == 200


def test_another_organizations_attachment_is_404(tenant_a, tenant_b, login):
    theirs = _attachment(tenant_b)
    response = login(tenant_a.users["owner"]).get(_url(tenant_a, theirs))
    assert response.status_code == 404
    assert login(tenant_b.users["owner"]).get(_url(tenant_b, theirs)).status_code == 200


@pytest.mark.parametrize(
    ("filename", "content_type", "served_as"),
    [
        ("page.html", "text/html; charset=utf-8", "text/html"),
        ("logo.svg", "image/svg+xml", "image/svg+xml"),
        ("feed.xml", "application/xml", "application/xml"),
        ("data.xml", "text/xml", "text/xml"),
        ("quote.pdf", "application/pdf", "application/pdf"),
        ("photo.bmp", "image/bmp", "image/bmp"),  # not on the inline list
        ("odd.bin", "text/html\r\nX-Evil: 1", "application/octet-stream"),
    ],
)
def test_files_that_can_carry_script_are_downloads(tenant_a, login, filename, content_type, served_as):
    risky = _attachment(tenant_a, filename, content_type, b"<script>alert(document.domain)</script>")
    response = login(tenant_a.users["manager"]).get(_url(tenant_a, risky))
    assert response.status_code == 200
    assert response["Content-Type"] == served_as
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff" and response["Content-Security-Policy"] == SANDBOX_CSP
    assert "X-Evil" not in response


def test_offload_hands_the_file_to_the_web_server(tenant_a, login, settings):
    photo = _attachment(tenant_a, "box.png")
    settings.FILES_OFFLOAD = "x-accel-redirect"
    settings.FILES_OFFLOAD_PREFIX = "/protected-files/"
    client = login(tenant_a.users["manager"])
    response = client.get(_url(tenant_a, photo))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected-files/{photo.file.name}"
    assert response.content == b""
    assert response["Content-Type"] == "image/png" and response["Content-Disposition"].startswith("inline;")
    assert response["X-Content-Type-Options"] == "nosniff" and response["Content-Security-Policy"] == SANDBOX_CSP

    settings.FILES_OFFLOAD = "x-sendfile"
    response = client.get(_url(tenant_a, photo))
    assert response["X-Sendfile"] == photo.file.path and response.content == b""
    assert "X-Accel-Redirect" not in response


def test_storage_names_are_random_not_the_uploaded_name(tenant_a):
    first = _attachment(tenant_a, "invoice-2024.png")
    second = _attachment(tenant_a, "invoice-2024.png")
    pattern = rf"attachments/{tenant_a.organization.pk}/[0-9a-f]{{32}}\.png"
    assert re.fullmatch(pattern, first.file.name) and re.fullmatch(pattern, second.file.name)
    assert first.file.name != second.file.name
    assert first.filename == "invoice-2024.png"  # the customer's name is kept for display and download


def test_upload_to_keeps_only_a_plain_extension(tenant_a):
    attachment = Attachment(organization=tenant_a.organization)
    assert attachment_upload_to(attachment, "A.JPEG").endswith(".jpeg")
    assert re.fullmatch(r"attachments/\d+/[0-9a-f]{32}", attachment_upload_to(attachment, "x.<svg onload=1>"))
    assert re.fullmatch(r"attachments/\d+/[0-9a-f]{32}", attachment_upload_to(attachment, "no-extension"))


def test_no_stored_file_is_404(tenant_a, login):
    with tenant_a.scope():
        remote = Attachment.objects.create(
            organization=tenant_a.organization, message=_attachment(tenant_a).message, filename="r.jpg",
            content_type="image/jpeg", remote_url="https://cdn.example.com/r.jpg",
        )  # fmt: skip
    gone = _attachment(tenant_a, "gone.png")
    gone.file.storage.delete(gone.file.name)
    client = login(tenant_a.users["manager"])
    assert client.get(_url(tenant_a, remote)).status_code == 404
    assert client.get(_url(tenant_a, gone)).status_code == 404


def test_the_api_points_stored_files_at_the_checked_view(tenant_a, api_client_for):
    photo = _attachment(tenant_a)
    response = api_client_for(tenant_a, "manager").get(
        f"/api/v1/orgs/{tenant_a.slug}/tickets/{photo.message.ticket_id}/messages/"
    )
    assert response.status_code == 200
    (row,) = [a for m in response.json()["results"] for a in m["attachments"]]
    assert row["url"] == f"http://testserver/{tenant_a.slug}/attachments/{photo.pk}/"
