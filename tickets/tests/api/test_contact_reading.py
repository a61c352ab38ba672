"""A contact's reading (フリガナ, issue 16 part 3): accepted in hiragana, katakana or half-width katakana and stored
in full-width katakana, refused when it is not kana, searchable in either kana, and the key of the name sort."""

import io

import pytest
from django.core.management import call_command

from core.errors import DomainError
from tickets.models import Contact, Ticket
from tickets.search import filter_matching
from tickets.services.contacts import contact_update, reading_normalise
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("たなか はなこ", "タナカ ハナコ"),
        ("ﾀﾅｶ　ﾊﾅｺ", "タナカ ハナコ"),  # half-width katakana and a full-width space
        ("  スズキ   イチロー ", "スズキ イチロー"),
        ("ゔぁいおりん", "ヴァイオリン"),
        ("", ""),
    ],
)
def test_readings_are_stored_in_full_width_katakana(typed, stored):
    assert reading_normalise(typed) == stored


@pytest.mark.parametrize("typed", ["田中", "Tanaka", "タナカ1"])
def test_what_is_not_kana_is_refused(typed):
    with pytest.raises(DomainError):
        reading_normalise(typed)


def _contact(tenant, conn, name: str, author: str):
    with tenant.scope():
        message, _created = message_ingest(
            organization=tenant.organization,
            connection=conn,
            inbound=inbound("hi", thread=author, author=author, name=name),
        )
        return message.ticket.contact


def _url(tenant, path: str = "") -> str:
    return f"/api/v1/orgs/{tenant.slug}/contacts/{path}"


def test_a_reading_is_saved_shown_searched_and_sorted_by(tenant_a, api_client_for):
    conn = connection(tenant_a, "line", "LINE")
    # By code point the names sort 佐藤 (U+4F50), 渡辺 (U+6E21), 阿部 (U+963F); by sound アベ, サトウ, ワタナベ.
    watanabe = _contact(tenant_a, conn, "渡辺 健", "W")
    abe = _contact(tenant_a, conn, "阿部 真", "A")
    sato = _contact(tenant_a, conn, "佐藤 花", "S")
    api = api_client_for(tenant_a, "owner")
    for contact, reading in ((watanabe, "わたなべ けん"), (abe, "ｱﾍﾞ ﾏｺﾄ"), (sato, "サトウ ハナ")):
        answer = api.patch(_url(tenant_a, f"{contact.pk}/"), {"reading": reading}, format="json")
        assert answer.status_code == 200, answer.content
    assert answer.json()["reading"] == "サトウ ハナ"
    assert api.get(_url(tenant_a, f"{abe.pk}/")).json()["reading"] == "アベ マコト"

    names = [row["name"] for row in api.get(_url(tenant_a), {"ordering": "name"}).json()["results"]]
    assert names == ["阿部 真", "佐藤 花", "渡辺 健"]
    # Without a reading the name itself is the key: an unread contact sorts among the others by its name.
    newest_first = [row["name"] for row in api.get(_url(tenant_a)).json()["results"]]
    assert newest_first == ["佐藤 花", "阿部 真", "渡辺 健"]

    for query in ("ワタナベ", "わたなべ"):
        assert [row["id"] for row in api.get(_url(tenant_a), {"q": query}).json()["results"]] == [watanabe.pk]
    assert [row["id"] for row in api.get(_url(tenant_a), {"q": "渡辺"}).json()["results"]] == [watanabe.pk]

    refused = api.patch(_url(tenant_a, f"{abe.pk}/"), {"reading": "阿部"}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["fields"]["reading"]


def test_the_reading_is_shown_over_the_name_in_the_conversation(tenant_a, login):
    conn = connection(tenant_a, "line", "LINE")
    contact = _contact(tenant_a, conn, "東海林 さだお", "T")
    with tenant_a.scope():
        contact_update(organization=tenant_a.organization, contact=contact, reading="しょうじ さだお")
        ticket = contact.tickets.get()
    html = login(tenant_a.users["owner"]).get(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/conversation/").content
    assert "<ruby>東海林 さだお<rp>(</rp><rt>ショウジ サダオ</rt><rp>)</rp></ruby>" in html.decode()


def test_agents_edit_the_reading_in_the_conversation_and_find_the_ticket_by_it(tenant_a, login, api_client_for):
    conn = connection(tenant_a, "line", "LINE")
    contact = _contact(tenant_a, conn, "東海林 さだお", "T")
    with tenant_a.scope():
        ticket = contact.tickets.get()
    client = login(tenant_a.users["owner"])
    url = f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/contact/"
    refused = client.post(url, {"name": "東海林 さだお", "reading": "Shoji"})
    assert refused.status_code == 400
    assert "フリガナはカタカナまたはひらがなで入力してください。" in refused.content.decode()
    saved = client.post(url, {"name": "東海林 さだお", "reading": "しょうじ さだお"})
    assert saved.status_code == 200 and "<rt>ショウジ サダオ</rt>" in saved.content.decode()
    api = api_client_for(tenant_a, "owner")
    # The inbox search finds the ticket by the reading (its vector gained the words; a hiragana query is the
    # search's own business: its analyser may read しょうじ as 障子).
    rows = api.get(f"/api/v1/orgs/{tenant_a.slug}/tickets/", {"q": "ショウジ"}).json()["results"]
    assert [row["id"] for row in rows] == [ticket.pk]


def test_members_who_cannot_work_tickets_cannot_edit_customers(tenant_a, login):
    conn = connection(tenant_a, "line", "LINE")
    contact = _contact(tenant_a, conn, "山田 花子", "Y")
    with tenant_a.scope():
        ticket = contact.tickets.get()
    answer = login(tenant_a.users["analyst"]).post(
        f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/contact/", {"reading": "ヤマダ"}
    )
    assert answer.status_code in {403, 404}
    with tenant_a.scope():
        contact.refresh_from_db()
    assert contact.reading == ""


def test_the_reindex_keeps_the_reading_in_the_tickets_vectors(tenant_a):
    conn = connection(tenant_a, "line", "LINE")
    contact = _contact(tenant_a, conn, "東海林 さだお", "R")
    with tenant_a.scope():
        contact_update(organization=tenant_a.organization, contact=contact, reading="ショウジ サダオ")
        ticket = contact.tickets.get()
    call_command("reindex_search", stdout=io.StringIO())
    with tenant_a.scope():
        assert filter_matching(Ticket.objects.all(), "ショウジ").get() == ticket
        assert filter_matching(Contact.objects.all(), "ショウジ").get() == contact
