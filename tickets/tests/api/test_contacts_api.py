"""The contacts API: CRUD with filters, identities, merge and undo, suggestions, custom attributes, settings and
webhook subscriptions; channel grants narrow what a member sees; bad input is a 4xx with the field named."""

import pytest

from accounts.services import connection_access_set
from tickets.models import Contact, ContactDuplicateSuggestion, ContactMerge
from tickets.services.contacts import contact_create
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _url(tenant, path: str) -> str:
    return f"/api/v1/orgs/{tenant.slug}/{path}"


def _ingested(tenant, conn, author, name, text="hi"):
    with tenant.scope():
        message, _ = message_ingest(
            organization=tenant.organization,
            connection=conn,
            inbound=inbound(text, author=author, name=name, thread=author),
        )
        return message.ticket.contact


def test_create_read_edit_and_filter(tenant_a, api_client_for, django_assert_max_num_queries):
    api = api_client_for(tenant_a, "manager")
    created = api.post(
        _url(tenant_a, "contacts/"),
        {
            "name": "山田 花子",
            "reading": "やまだ はなこ",
            "emails": ["Hanako@Example.JP"],
            "phones": ["０９０－１２３４－５６７８"],
            "company": "サンプル商事",
            "tags": ["常連"],
            "vip": True,
            "consent_marketing": True,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["emails"] == ["hanako@example.jp"] and body["phones"] == ["+819012345678"]
    assert body["reading"] == "ヤマダ ハナコ" and body["consent_marketing"] and body["identities"] == []
    contact_id = body["id"]
    with tenant_a.scope():
        for n in range(5):
            contact_create(organization=tenant_a.organization, actor=None, name=f"他の人 {n}", tags=["other"])
    for query, expected in [
        ("q=はなこ", [contact_id]),
        ("phone=090-1234-5678", [contact_id]),
        ("email=HANAKO@example.jp", [contact_id]),
        ("tag=常連", [contact_id]),
        ("vip=true", [contact_id]),
        ("consent_marketing=1", [contact_id]),
        ("phone=not-a-number", []),
    ]:
        answer = api.get(_url(tenant_a, f"contacts/?{query}"))
        assert answer.status_code == 200 and [c["id"] for c in answer.json()["results"]] == expected, query
    with django_assert_max_num_queries(8):
        listed = api.get(_url(tenant_a, "contacts/?ordering=name"))
    assert len(listed.json()["results"]) == 6
    edited = api.patch(
        _url(tenant_a, f"contacts/{contact_id}/"),
        {"company": "", "phones": ["03-1234-5678"], "timezone": "Asia/Tokyo", "notes": "夕方に電話"},
        format="json",
    )
    assert edited.status_code == 200
    assert edited.json()["phones"] == ["+81312345678"] and edited.json()["company"] == ""
    refused = api.patch(_url(tenant_a, f"contacts/{contact_id}/"), {"phones": ["12"]}, format="json")
    assert refused.status_code == 400 and "phones" in refused.json()["error"]["fields"]
    refused = api.patch(_url(tenant_a, f"contacts/{contact_id}/"), {"timezone": "Mars/Base"}, format="json")
    assert refused.status_code == 400 and "timezone" in refused.json()["error"]["fields"]


def test_custom_attributes_are_defined_by_admins_and_validated(tenant_a, api_client_for):
    admin, agent = api_client_for(tenant_a, "admin"), api_client_for(tenant_a, "agent")
    body = {"key": "plan", "label": "プラン", "type": "choice", "choices": ["free", "pro"]}
    assert agent.post(_url(tenant_a, "contact-attributes/"), body, format="json").status_code == 403
    defined = admin.post(_url(tenant_a, "contact-attributes/"), body, format="json")
    assert defined.status_code == 201
    assert admin.post(_url(tenant_a, "contact-attributes/"), body, format="json").status_code == 409
    created = admin.post(_url(tenant_a, "contacts/"), {"name": "x", "attributes": {"plan": "gold"}}, format="json")
    assert created.status_code == 400 and "attributes.plan" in created.json()["error"]["fields"]
    created = admin.post(_url(tenant_a, "contacts/"), {"name": "x", "attributes": {"plan": "pro"}}, format="json")
    assert created.status_code == 201 and created.json()["attributes"] == {"plan": "pro"}
    attribute_id = defined.json()["id"]
    assert admin.delete(_url(tenant_a, f"contact-attributes/{attribute_id}/")).status_code == 204
    with tenant_a.scope():
        assert Contact.objects.get(pk=created.json()["id"]).attributes == {}


def test_merge_undo_and_identities_through_the_api(tenant_a, api_client_for):
    line, x = connection(tenant_a, "line"), connection(tenant_a, "x")
    on_line = _ingested(tenant_a, line, "U1", "山田 花子")
    on_x = _ingested(tenant_a, x, "X1", "Hanako")
    api = api_client_for(tenant_a, "agent")
    with tenant_a.scope():
        connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=line,
            users=[tenant_a.users["agent"]],
        )
    # The agent sees only LINE: the X contact is a 404, as a missing one.
    assert api.get(_url(tenant_a, f"contacts/{on_x.pk}/")).status_code == 404
    refused = api.post(_url(tenant_a, f"contacts/{on_line.pk}/merge/"), {"other": on_x.pk}, format="json")
    assert refused.status_code == 404
    manager = api_client_for(tenant_a, "manager")
    merged = manager.post(_url(tenant_a, f"contacts/{on_line.pk}/merge/"), {"other": on_x.pk}, format="json")
    assert merged.status_code == 201 and merged.json()["moved"] == {"identities": 1, "tickets": 1, "messages": 1}
    assert merged.json()["undoable"]
    detail = manager.get(_url(tenant_a, f"contacts/{on_line.pk}/")).json()
    assert {i["platform"] for i in detail["identities"]} == {"line", "x"}
    assert manager.get(_url(tenant_a, f"contacts/{on_x.pk}/")).status_code == 404  # merged away
    again = manager.post(_url(tenant_a, f"contacts/{on_line.pk}/merge/"), {"other": on_line.pk}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "merge_refused"
    merges = manager.get(_url(tenant_a, f"contacts/{on_line.pk}/merges/")).json()
    undone = manager.post(_url(tenant_a, f"contact-merges/{merges[0]['id']}/undo/"))
    assert undone.status_code == 200 and undone.json()["undone_at"]
    assert manager.get(_url(tenant_a, f"contacts/{on_x.pk}/")).status_code == 200
    # Identities: add one, refuse one that belongs to someone else, remove one.
    added = manager.post(
        _url(tenant_a, f"contacts/{on_line.pk}/identities/"),
        {"platform": "instagram", "external_id": "ig-1", "handle": "hanako"},
        format="json",
    )
    assert added.status_code == 201
    taken = manager.post(
        _url(tenant_a, f"contacts/{on_line.pk}/identities/"), {"platform": "x", "external_id": "X1"}, format="json"
    )
    assert taken.status_code == 409
    removed = manager.delete(_url(tenant_a, f"contacts/{on_line.pk}/identities/{added.json()['id']}/"))
    assert removed.status_code == 204


def test_suggestions_are_listed_merged_or_dismissed(tenant_a, api_client_for, django_capture_on_commit_callbacks):
    with tenant_a.scope():
        with django_capture_on_commit_callbacks(execute=True):
            a = contact_create(organization=tenant_a.organization, actor=None, name="A", phones=["090-1111-2222"])
        with django_capture_on_commit_callbacks(execute=True):
            b = contact_create(organization=tenant_a.organization, actor=None, name="B", phones=["+81 90 1111 2222"])
        with django_capture_on_commit_callbacks(execute=True):
            c = contact_create(organization=tenant_a.organization, actor=None, name="C", emails=["c@example.jp"])
        with django_capture_on_commit_callbacks(execute=True):
            d = contact_create(organization=tenant_a.organization, actor=None, name="D", emails=["C@example.jp"])
    api = api_client_for(tenant_a, "manager")
    listed = api.get(_url(tenant_a, "contact-suggestions/")).json()["results"]
    assert {(s["contact"]["id"], s["other"]["id"]) for s in listed} == {(a.pk, b.pk), (c.pk, d.pk)}
    by_pair = {(s["contact"]["id"], s["other"]["id"]): s["id"] for s in listed}
    merged = api.post(
        _url(tenant_a, f"contact-suggestions/{by_pair[(a.pk, b.pk)]}/merge/"), {"survivor": b.pk}, format="json"
    )
    assert merged.status_code == 201 and merged.json()["survivor"] == b.pk
    bad = api.post(
        _url(tenant_a, f"contact-suggestions/{by_pair[(c.pk, d.pk)]}/merge/"), {"survivor": a.pk}, format="json"
    )
    assert bad.status_code == 400
    dismissed = api.post(_url(tenant_a, f"contact-suggestions/{by_pair[(c.pk, d.pk)]}/dismiss/"))
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert api.get(_url(tenant_a, "contact-suggestions/")).json()["results"] == []
    with tenant_a.scope():
        assert ContactMerge.objects.get().merged_id == a.pk
        assert ContactDuplicateSuggestion.objects.filter(status="merged").count() == 1


def test_settings_and_webhook_subscriptions_are_for_admins(tenant_a, api_client_for, settings):
    settings.RULE_WEBHOOKS_ALLOW_PRIVATE = False
    admin, agent = api_client_for(tenant_a, "admin"), api_client_for(tenant_a, "agent")
    assert (
        agent.patch(_url(tenant_a, "contact-settings/"), {"auto_merge_exact": True}, format="json").status_code == 403
    )
    changed = admin.patch(
        _url(tenant_a, "contact-settings/"), {"auto_merge_exact": True, "phone_region": "us"}, format="json"
    )
    assert changed.json() == {"auto_merge_exact": True, "merge_undo_days": 30, "phone_region": "US"}
    assert admin.patch(_url(tenant_a, "contact-settings/"), {"phone_region": "ZZ"}, format="json").status_code == 400
    assert agent.get(_url(tenant_a, "contact-webhooks/")).status_code == 403
    refused = admin.post(
        _url(tenant_a, "contact-webhooks/"),
        {"url": "http://crm.example.jp/hook", "events": ["contact.created"]},
        format="json",
    )
    assert refused.status_code == 400 and "url" in refused.json()["error"]["fields"]
    refused = admin.post(
        _url(tenant_a, "contact-webhooks/"),
        {"url": "https://crm.example.jp/hook", "events": ["ticket.created"]},
        format="json",
    )
    assert refused.status_code == 400
    made = admin.post(
        _url(tenant_a, "contact-webhooks/"),
        {"url": "https://crm.example.jp/hook", "events": ["contact.created", "contact.merged"]},
        format="json",
    )
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    shown = admin.get(_url(tenant_a, f"contact-webhooks/{made.json()['id']}/")).json()
    assert "secret" not in shown
    paused = admin.patch(_url(tenant_a, f"contact-webhooks/{made.json()['id']}/"), {"active": False}, format="json")
    assert paused.json()["active"] is False
    assert admin.get(_url(tenant_a, f"contact-webhooks/{made.json()['id']}/deliveries/")).json()["results"] == []
    assert admin.delete(_url(tenant_a, f"contact-webhooks/{made.json()['id']}/")).status_code == 204
