"""/.well-known/security.txt tells a researcher where to report, in RFC 9116's fields."""

from datetime import UTC, datetime, timedelta


def test_security_txt_names_the_contact_and_a_near_expiry(client, settings):
    settings.SECURITY_CONTACTS = ["mailto:security@example.jp", "https://example.jp/security"]
    settings.SECURITY_POLICY_URL = ""
    response = client.get("/.well-known/security.txt")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    fields = [line.split(": ", 1) for line in response.content.decode().splitlines()]
    assert [v for k, v in fields if k == "Contact"] == ["mailto:security@example.jp", "https://example.jp/security"]
    expires = datetime.strptime(dict(fields)["Expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(days=1) < expires - datetime.now(UTC) < timedelta(days=365)  # RFC 9116 §2.5.5
    assert dict(fields)["Canonical"].endswith("/.well-known/security.txt")
    assert "Policy" not in dict(fields)


def test_the_default_contact_is_security_at_the_site_host(settings):
    assert settings.SECURITY_CONTACTS[0].startswith("mailto:security@")
