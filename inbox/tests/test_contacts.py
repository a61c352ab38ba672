"""The contacts screens: list (channel grants, search, filters, segments, bulk tag), the 360° profile (edit with
custom attributes, timeline, duplicates, merge and undo), the panel beside the conversation, the custom attribute
settings, and query budgets that do not grow with rows."""

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from inbox.contacts.models import ContactSegment
from tickets.models import Contact, ContactAttributeDefinition, ContactMerge, SuggestionStatus, Ticket
from tickets.services.contact_matching import suggestion_record
from tickets.services.contacts import contact_attribute_define, contact_update
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _ingest(tenant, conn, text, **kw):
    with tenant.scope():
        return message_ingest(organization=tenant.organization, connection=conn, inbound=inbound(text, **kw))[0]


def _grant(tenant, conn, user):
    with tenant.scope():
        account_services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=conn, users=[user]
        )


def _queries(fn) -> int:
    with CaptureQueriesContext(db) as ctx:
        assert fn().status_code == 200
    return len(ctx.captured_queries)


def _contact(tenant, message) -> Contact:
    with tenant.scope():
        return Contact.objects.get(pk=message.ticket.contact_id)


def test_agents_see_only_contacts_of_granted_channels(tenant_a, login):
    granted, hidden = connection(tenant_a, "line"), connection(tenant_a, "email")
    _grant(tenant_a, granted, tenant_a.users["agent"])
    seen = _ingest(tenant_a, granted, "見える", thread="v", author="U-seen", name="見える 人")
    secret = _ingest(tenant_a, hidden, "見えない", thread="h", author="U-secret", name="秘密 の人")
    client = login(tenant_a.users["agent"])
    page = client.get(f"/{tenant_a.slug}/contacts/").content.decode()
    assert f"contact-row-{seen.ticket.contact_id}" in page
    assert f"contact-row-{secret.ticket.contact_id}" not in page and "秘密" not in page
    assert client.get(f"/{tenant_a.slug}/contacts/{secret.ticket.contact_id}/").status_code == 404
    assert client.get(f"/{tenant_a.slug}/contacts/{secret.ticket.contact_id}/panel/").status_code == 404
    assert client.post(f"/{tenant_a.slug}/contacts/{secret.ticket.contact_id}/", {"name": "x"}).status_code == 404
    # Members who see every channel see both.
    page = login(tenant_a.users["manager"]).get(f"/{tenant_a.slug}/contacts/").content.decode()
    assert f"contact-row-{seen.ticket.contact_id}" in page and f"contact-row-{secret.ticket.contact_id}" in page


def test_search_and_filters(tenant_a, login):
    conn, mail = connection(tenant_a, "line"), connection(tenant_a, "email")
    tanaka = _contact(tenant_a, _ingest(tenant_a, conn, "a", thread="a", author="U-a", name="田中 太郎"))
    suzuki = _contact(tenant_a, _ingest(tenant_a, mail, "b", thread="b", author="s@example.com", name="鈴木 一郎"))
    with tenant_a.scope():
        contact_update(organization=tenant_a.organization, contact=tanaka, reading="タナカ タロウ", vip=True)
        contact_update(organization=tenant_a.organization, contact=suzuki, tags=["卸"])
    client = login(tenant_a.users["manager"])
    base = f"/{tenant_a.slug}/contacts/"

    def rows(**params):
        page = client.get(base, params).content.decode()
        return {c.pk for c in (tanaka, suzuki) if f"contact-row-{c.pk}" in page}

    assert rows(q="田中") == {tanaka.pk}
    assert rows(q="たなか") == {tanaka.pk}  # the reading, typed in hiragana
    assert rows(vip="1") == {tanaka.pk}
    assert rows(tag="卸") == {suzuki.pk}
    assert rows(platform="email") == {suzuki.pk}
    assert rows(open="1") == {tanaka.pk, suzuki.pk}
    assert rows(open="0") == set()
    assert rows(vip="nonsense", platform="nope", page="x") == {tanaka.pk, suzuki.pk}  # lenient, never a 500


def test_custom_attribute_filter_and_profile_edit(tenant_a, login):
    conn = connection(tenant_a)
    contact = _contact(tenant_a, _ingest(tenant_a, conn, "a", thread="a", author="U-a"))
    with tenant_a.scope():
        contact_attribute_define(
            organization=tenant_a.organization, actor=None, key="plan", label="プラン", type="choice",
            choices=["gold", "silver"],
        )  # fmt: skip
        contact_attribute_define(
            organization=tenant_a.organization, actor=None, key="points", label="Points", type="number"
        )
    client = login(tenant_a.users["agent"])
    _grant(tenant_a, conn, tenant_a.users["agent"])
    url = f"/{tenant_a.slug}/contacts/{contact.pk}/"
    bad = client.post(url, {"name": "山田 花子", "attr_plan": "bronze", "attr_points": "many", "phones": "12"})
    assert bad.status_code == 400
    with tenant_a.scope():
        assert Contact.objects.get(pk=contact.pk).attributes == {}
    response = client.post(
        url,
        {
            "name": "山田 花子",
            "reading": "やまだ はなこ",
            "emails": "Hanako@Example.com",
            "phones": "090-1234-5678",
            "tags": "VIP候補, 卸",
            "attr_plan": "gold",
            "attr_points": "1,200",
            "vip": "on",
        },
    )
    assert response.status_code == 302
    with tenant_a.scope():
        contact.refresh_from_db()
    assert contact.reading == "ヤマダ ハナコ" and contact.emails == ["hanako@example.com"]
    assert contact.phones == ["+819012345678"] and contact.vip and contact.tags == ["VIP候補", "卸"]
    assert contact.attributes == {"plan": "gold", "points": 1200}
    page = client.get(f"/{tenant_a.slug}/contacts/", {"attr.plan": "gold"}).content.decode()
    assert f"contact-row-{contact.pk}" in page
    page = client.get(f"/{tenant_a.slug}/contacts/", {"attr.plan": "silver"}).content.decode()
    assert f"contact-row-{contact.pk}" not in page
    # An analyst (no tickets.work) may not edit.
    _grant(tenant_a, conn, tenant_a.users["analyst"])
    assert login(tenant_a.users["analyst"]).post(url, {"name": "x"}).status_code == 403


def test_profile_timeline_spans_channels_and_costs_the_same_with_more_rows(tenant_a, login):
    line, mail = connection(tenant_a, "line"), connection(tenant_a, "email")
    first = _ingest(tenant_a, line, "LINEからの質問", thread="l1", author="U-t")
    contact = _contact(tenant_a, first)
    with tenant_a.scope():
        other = message_ingest(
            organization=tenant_a.organization,
            connection=mail,
            inbound=inbound("メールの質問", thread="m1", author="t@example.com"),
        )[0]
        # The same person on email (as a merge leaves it): the ticket belongs to the LINE contact.
        Ticket.objects.filter(pk=other.ticket_id).update(contact=contact)
    client = login(tenant_a.users["manager"])
    url = f"/{tenant_a.slug}/contacts/{contact.pk}/"
    page = client.get(url).content.decode()
    assert "LINEからの質問" in page and "メールの質問" in page
    before = _queries(lambda: client.get(url))
    for n in range(40):
        _ingest(tenant_a, line, f"追加 {n}", thread="l1", author="U-t")
    after = _queries(lambda: client.get(url))
    assert after == before, (before, after)
    page = client.get(url).content.decode()
    timeline = page.split('id="contact-timeline"')[1].split("</ol>")[0]
    assert "追加 39" in timeline and "LINEからの質問" not in timeline and "before=" in timeline  # paginated
    cursor = page.split("before=")[1].split('"')[0].replace("&amp;", "&")
    older = client.get(f"{url}timeline/?before={cursor}").content.decode()
    assert "LINEからの質問" in older and "追加 39" not in older
    assert client.get(f"{url}timeline/?before=garbage").status_code == 200
    list_before = _queries(lambda: client.get(f"/{tenant_a.slug}/contacts/"))
    for n in range(5):
        _ingest(tenant_a, mail, "x", thread=f"t{n}", author=f"p{n}@example.com", name=f"人 {n}")
    assert _queries(lambda: client.get(f"/{tenant_a.slug}/contacts/")) == list_before


def test_suggested_duplicate_merge_dismiss_and_undo(tenant_a, login):
    line, mail = connection(tenant_a, "line"), connection(tenant_a, "email")
    a = _contact(tenant_a, _ingest(tenant_a, line, "LINEの声", thread="l", author="U-dup", name="佐藤 健"))
    b = _contact(tenant_a, _ingest(tenant_a, mail, "メールの声", thread="m", author="k@example.com", name="佐藤 健"))
    c = _contact(tenant_a, _ingest(tenant_a, mail, "別人", thread="n", author="z@example.com", name="佐藤 健二"))
    with tenant_a.scope():
        merge_s = suggestion_record(organization=tenant_a.organization, contact=a, other=b, reasons=["name"], score=0.8)
        dismiss_s = suggestion_record(
            organization=tenant_a.organization, contact=a, other=c, reasons=["name"], score=0.5
        )
    _grant(tenant_a, line, tenant_a.users["agent"])
    agent = login(tenant_a.users["agent"])
    # The agent does not see the email channel: no suggestion shown, and merging it is refused.
    panel = agent.get(f"/{tenant_a.slug}/contacts/{a.pk}/panel/").content.decode()
    assert "data-suggestion" not in panel
    assert agent.post(f"/{tenant_a.slug}/contacts/{a.pk}/suggestions/{merge_s.pk}/merge/").status_code == 404
    client = login(tenant_a.users["manager"])
    panel = client.get(f"/{tenant_a.slug}/contacts/{a.pk}/panel/").content.decode()
    assert f'data-suggestion="{merge_s.pk}"' in panel
    response = client.post(f"/{tenant_a.slug}/contacts/{a.pk}/suggestions/{dismiss_s.pk}/dismiss/")
    assert response.status_code == 302
    response = client.post(f"/{tenant_a.slug}/contacts/{a.pk}/suggestions/{merge_s.pk}/merge/", {"ticket": "7"})
    assert response.status_code == 302 and response["Location"].endswith("/inbox/tickets/7/")
    with tenant_a.scope():
        merge_s.refresh_from_db(), dismiss_s.refresh_from_db()
        assert merge_s.status == SuggestionStatus.MERGED and dismiss_s.status == SuggestionStatus.DISMISSED
        merge = ContactMerge.objects.get(survivor=a, merged=b)
    page = client.get(f"/{tenant_a.slug}/contacts/{a.pk}/").content.decode()
    assert "LINEの声" in page and "メールの声" in page and f"/merges/{merge.pk}/undo/" in page
    assert client.get(f"/{tenant_a.slug}/contacts/{b.pk}/").status_code == 404  # lives on inside the survivor
    assert client.post(f"/{tenant_a.slug}/contacts/{a.pk}/merges/{merge.pk}/undo/").status_code == 302
    page = client.get(f"/{tenant_a.slug}/contacts/{a.pk}/").content.decode()
    assert "LINEの声" in page and "メールの声" not in page.split('id="contact-timeline"')[1]
    assert client.get(f"/{tenant_a.slug}/contacts/{b.pk}/").status_code == 200


def test_bulk_tag_touches_only_visible_contacts(tenant_a, login):
    granted, hidden = connection(tenant_a, "line"), connection(tenant_a, "email")
    _grant(tenant_a, granted, tenant_a.users["agent"])
    seen = _contact(tenant_a, _ingest(tenant_a, granted, "a", thread="a", author="U-a"))
    secret = _contact(tenant_a, _ingest(tenant_a, hidden, "b", thread="b", author="b@example.com"))
    client = login(tenant_a.users["agent"])
    url = f"/{tenant_a.slug}/contacts/bulk-tag/"
    assert (
        client.post(url, {"contact": [seen.pk, secret.pk], "tag": "夏キャンペーン", "action": "add"}).status_code == 302
    )
    with tenant_a.scope():
        assert Contact.objects.get(pk=seen.pk).tags == ["夏キャンペーン"]
        assert Contact.objects.get(pk=secret.pk).tags == []
    client.post(url, {"contact": [seen.pk], "tag": "夏キャンペーン", "action": "remove"})
    with tenant_a.scope():
        assert Contact.objects.get(pk=seen.pk).tags == []
    assert client.post(url, {"tag": ""}).status_code == 302  # nothing ticked: a message, not an error


def test_segments_save_filters(tenant_a, login):
    client = login(tenant_a.users["agent"])
    response = client.post(
        f"/{tenant_a.slug}/contacts/segments/", {"name": "VIP LINE", "query": "vip=1&platform=line&bogus=1"}
    )
    assert response.status_code == 302
    with tenant_a.scope():
        segment = ContactSegment.objects.get()
    assert segment.filters == {"vip": "1", "platform": "line"} and segment.owner == tenant_a.users["agent"]
    assert f'data-segment="{segment.pk}"' in client.get(f"/{tenant_a.slug}/contacts/").content.decode()
    # Shared segments need rules.manage.
    assert client.post(f"/{tenant_a.slug}/contacts/segments/", {"name": "x", "shared": "1"}).status_code == 403
    assert client.post(f"/{tenant_a.slug}/contacts/segments/{segment.pk}/delete/").status_code == 302
    with tenant_a.scope():
        assert not ContactSegment.objects.exists()
    client.post(f"/{tenant_a.slug}/contacts/segments/", {"name": "VIP LINE", "query": "vip=1"})
    # (the login fixture logs the one test client in as someone else)
    assert 'class="segment"' not in login(tenant_a.users["manager"]).get(f"/{tenant_a.slug}/contacts/").content.decode()


def test_attribute_settings_for_admins(tenant_a, login):
    url = f"/{tenant_a.slug}/settings/contact-fields/"
    assert login(tenant_a.users["agent"]).get(url).status_code == 403
    client = login(tenant_a.users["admin"])
    assert client.get(url).status_code == 200
    bad = client.post(url, {"label": "誕生日", "key": "Bad Key", "type": "date", "position": 0})
    assert bad.status_code == 400
    ok = client.post(url, {"label": "会員ランク", "key": "rank", "type": "choice", "choices": "金\n銀", "position": 1})
    assert ok.status_code == 302
    with tenant_a.scope():
        definition = ContactAttributeDefinition.objects.get(key="rank")
    assert definition.choices == ["金", "銀"]
    edit = client.post(f"{url}{definition.pk}/", {"label": "ランク", "choices": "金\n銀\n銅", "position": 1})
    assert edit.status_code == 302
    assert client.post(f"{url}{definition.pk}/delete/", {"confirmed": "yes"}).status_code == 302
    with tenant_a.scope():
        assert not ContactAttributeDefinition.objects.exists()


# --- CSV -----------------------------------------------------------------------------------------------------------


def _upload(client, tenant, content: bytes, name="contacts.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(f"/{tenant.slug}/contacts/import/", {"file": SimpleUploadedFile(name, content, "text/csv")})


CSV_TEXT = (
    "name,reading,emails,phones,vip,tags,attr.rank,unknown\n"
    "山田 花子,やまだ はなこ,hanako@example.com,090-1234-5678,1,卸;VIP候補,金,x\n"
    "佐藤 次郎,サトウ ジロウ,not-an-email,12,maybe,,プラチナ,\n"
    "鈴木 一郎,Suzuki,ichiro@example.com,03-1234-5678,0,,,\n"
    "existing,,,+81 80-1111-2222,,,銀,\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_csv_import_preview_then_confirm(tenant_a, login, encoding):
    conn = connection(tenant_a)
    existing = _contact(tenant_a, _ingest(tenant_a, conn, "a", thread="a", author="U-a", name="既存 顧客"))
    with tenant_a.scope():
        contact_update(organization=tenant_a.organization, contact=existing, phones=["080-1111-2222"])
        contact_attribute_define(
            organization=tenant_a.organization, actor=None, key="rank", label="ランク", type="choice",
            choices=["金", "銀"],
        )  # fmt: skip
        before = Contact.objects.count()
    client = login(tenant_a.users["manager"])
    preview = _upload(client, tenant_a, CSV_TEXT.replace("existing", "").encode(encoding))
    assert preview.status_code == 200
    page = preview.content.decode()
    assert ("Shift_JIS" if encoding == "cp932" else "UTF-8") in page
    bad = page.split('id="import-row-3"')[1].split("</tr>")[0]  # 佐藤: four bad cells, each named
    for column in ("emails", "phones", "vip", "attr.rank"):
        assert f'data-column="{column}"' in bad, column
    assert "not-an-email" in bad and "プラチナ" in bad
    assert 'data-column="reading"' in page.split('id="import-row-4"')[1].split("</tr>")[0]  # Latin reading
    assert 'id="import-row-2" class="valid"' in page and 'id="import-row-5" class="valid"' in page
    assert "<code>unknown</code>" in page  # ignored column, said so
    with tenant_a.scope():
        assert Contact.objects.count() == before  # nothing written by the preview
    text = page.split('<textarea name="text" hidden aria-hidden="true">')[1].split("</textarea>")[0]
    import html

    done = client.post(
        f"/{tenant_a.slug}/contacts/import/", {"step": "confirm", "text": html.unescape(text), "encoding": "UTF-8"}
    )
    assert done.status_code == 200
    with tenant_a.scope():
        assert Contact.objects.count() == before + 1
        hanako = Contact.objects.get(emails__contains=["hanako@example.com"])
        existing.refresh_from_db()
    assert hanako.reading == "ヤマダ ハナコ" and hanako.phones == ["+819012345678"] and hanako.vip
    assert hanako.tags == ["卸", "VIP候補"] and hanako.attributes == {"rank": "金"}
    assert existing.attributes == {"rank": "銀"} and existing.name == "既存 顧客"  # empty cells leave fields alone
    assert 'data-created="1" data-updated="1" data-skipped="2"' in done.content.decode()


def test_csv_import_refuses_unreadable_files_and_agents(tenant_a, login):
    client = login(tenant_a.users["manager"])
    assert _upload(client, tenant_a, b"").status_code == 400
    assert _upload(client, tenant_a, b"foo,bar\n1,2\n").status_code == 400  # no known column
    assert _upload(client, tenant_a, b"name\n\xff\xfe\xfa\n").status_code == 400  # neither UTF-8 nor Shift_JIS
    assert _upload(client, tenant_a, b'name,emails\n"unterminated,x\n').status_code in {200, 400}
    assert login(tenant_a.users["agent"]).get(f"/{tenant_a.slug}/contacts/import/").status_code == 403


def test_csv_import_updates_only_contacts_the_importer_names(tenant_a, login):
    conn = connection(tenant_a)
    contact = _contact(tenant_a, _ingest(tenant_a, conn, "a", thread="a", author="U-a"))
    client = login(tenant_a.users["manager"])
    page = _upload(
        client, tenant_a, f"id,company\n{contact.pk},株式会社ABC\n999999,x\n1,2,3\n".encode()
    ).content.decode()
    assert 'data-column="id"' in page.split('id="import-row-3"')[1].split("</tr>")[0]


def test_csv_export_has_bom_and_only_visible_contacts(tenant_a, login):
    granted, hidden = connection(tenant_a, "line"), connection(tenant_a, "email")
    seen = _contact(tenant_a, _ingest(tenant_a, granted, "a", thread="a", author="U-a", name="見える 人"))
    _ingest(tenant_a, hidden, "b", thread="b", author="b@example.com", name="秘密 の人")
    with tenant_a.scope():
        contact_update(organization=tenant_a.organization, contact=seen, tags=["卸"], phones=["090-1234-5678"])
    _grant(tenant_a, granted, tenant_a.users["analyst"])
    assert login(tenant_a.users["agent"]).get(f"/{tenant_a.slug}/contacts/export/").status_code == 403
    response = login(tenant_a.users["analyst"]).get(f"/{tenant_a.slug}/contacts/export/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert "見える 人" in text and "秘密" not in text and "+819012345678" in text and "卸" in text
    import csv as csv_module
    import io

    rows = list(csv_module.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ["見える 人"] and rows[0]["identities"].startswith("line:")
    # The filters apply to the export.
    filtered = login(tenant_a.users["manager"]).get(f"/{tenant_a.slug}/contacts/export/", {"tag": "none-such"})
    assert len(b"".join(filtered.streaming_content).decode("utf-8-sig").strip().splitlines()) == 1


def test_panel_beside_the_conversation_costs_the_same_with_more_rows(tenant_a, login):
    line, mail = connection(tenant_a, "line"), connection(tenant_a, "email")
    first = _ingest(tenant_a, line, "最初", thread="p0", author="U-p", name="高橋 誠")
    contact = _contact(tenant_a, first)
    client = login(tenant_a.users["manager"])
    url = f"/{tenant_a.slug}/contacts/{contact.pk}/panel/?ticket={first.ticket_id}"
    page = client.get(f"/{tenant_a.slug}/inbox/tickets/{first.ticket_id}/").content.decode()
    assert f"/contacts/{contact.pk}/panel/?ticket={first.ticket_id}" in page  # loaded beside the conversation
    before = None
    for n in range(4):
        _ingest(tenant_a, line, f"別件 {n}", thread=f"p{n + 1}", author="U-p")
        other = _contact(
            tenant_a, _ingest(tenant_a, mail, "x", thread=f"m{n}", author=f"t{n}@example.com", name="高橋 誠")
        )
        with tenant_a.scope():
            suggestion_record(
                organization=tenant_a.organization, contact=contact, other=other, reasons=["name"], score=0.6
            )
        if before is None:  # measured with one of each (a prefetch runs only when there is something to fetch)
            before = _queries(lambda: client.get(url))
    assert _queries(lambda: client.get(url)) == before
    assert client.get(url).content.decode().count('class="suggestion"') == 4


def test_csv_export_keeps_formula_like_values_text_and_reads_them_back(tenant_a, login):
    """A customer can call themselves =HYPERLINK(...) on a platform: in the export it is text a spreadsheet shows,
    never runs (OWASP CSV injection), and so is a +81 number; importing that file reads both back unchanged."""
    import csv as csv_module
    import io

    from inbox.contacts import csv_io

    line = connection(tenant_a, "line")
    evil = '=HYPERLINK("http://evil.example/","見る")'
    contact = _contact(tenant_a, _ingest(tenant_a, line, "a", thread="f", author="U-f", name=evil))
    with tenant_a.scope():
        contact_update(organization=tenant_a.organization, contact=contact, phones=["090-1234-5678"])
    text = b"".join(login(tenant_a.users["owner"]).get(f"/{tenant_a.slug}/contacts/export/").streaming_content)
    [row] = list(csv_module.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert row["name"] == "'" + evil and row["phones"] == "'+819012345678"
    with tenant_a.scope():
        preview = csv_io.preview(
            organization=tenant_a.organization,
            membership=tenant_a.memberships["owner"],
            text=text.decode("utf-8-sig"),
            encoding="utf-8",
        )
    [imported] = preview.rows
    assert imported.values["name"] == evil and imported.values["phones"] == "+819012345678"
    assert imported.valid
