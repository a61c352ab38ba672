"""The asset library's pages: browse and search (Japanese), grid and list, rights per role, versions (view, compare,
restore, upload), status actions, usage, collections and their rights, bulk tagging after an upload, the picker,
using an asset in an inbox reply; and query counts that do not grow with the data."""

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as account_services
from assets.models import Asset, AssetStatus, AssetUpload, AssetUsage, AssetVersion, Collection, CollectionGrant
from assets.services import asset_approve, asset_usage_record, collection_create
from assets.tests.factories import make_file_asset, make_snippet, png_bytes, upload
from tickets.models import Attachment, Message
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


def _url(tenant, path=""):
    return f"/{tenant.slug}/assets/{path}"


def _queries(client, url) -> int:
    client.get(url)  # the first request of a session also remembers the member's organization: not measured
    with CaptureQueriesContext(db) as ctx:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


def _ticket_for(tenant, user, platform="facebook"):
    conn = connection(tenant, platform)
    with tenant.scope():
        message, _created = message_ingest(
            organization=tenant.organization, connection=conn, inbound=inbound("新商品について教えてください")
        )
        account_services.connection_access_set(
            organization=tenant.organization, actor=tenant.users["owner"], connection=conn, users=[user]
        )
    return message.ticket


# --- the library ---------------------------------------------------------------------------------------------------


def test_library_finds_an_asset_by_a_japanese_word_and_filters(tenant_a, login):
    launch = make_file_asset(tenant_a, title="春の新商品バナー", tags=["新商品", "春"])
    make_file_asset(tenant_a, title="ロゴ", tags=["ブランド"])
    snippet = make_snippet(tenant_a, title="お礼の定型文", text="お問い合わせありがとうございます。")
    client = login(tenant_a.users["editor"])

    page = client.get(_url(tenant_a), {"q": "新商品"}).content.decode()
    assert "春の新商品バナー" in page and "ロゴ" not in page and "お礼の定型文" not in page
    page = client.get(_url(tenant_a), {"q": "ありがとう"}).content.decode()  # a word inside a snippet's text
    assert "お礼の定型文" in page and "春の新商品バナー" not in page
    page = client.get(_url(tenant_a), {"tag": "ブランド"}).content.decode()
    assert "ロゴ" in page and "春の新商品バナー" not in page
    page = client.get(_url(tenant_a), {"kind": "snippet"}).content.decode()
    assert f'data-asset-id="{snippet.pk}"' in page and f'data-asset-id="{launch.pk}"' not in page

    grid = client.get(_url(tenant_a)).content.decode()
    assert 'class="asset-grid"' in grid and grid.count('class="asset-card"') == 3
    assert f"/{tenant_a.slug}/assets/versions/{launch.current_version_id}/thumbnail/" in grid  # Pillow's thumbnail
    listing = client.get(_url(tenant_a), {"view": "list"}).content.decode()
    assert 'class="table asset-table"' in listing and listing.count('class="asset-row"') == 3
    # Bad filter values are ignored, never a 500.
    assert client.get(_url(tenant_a), {"collection": "x", "status": "nope", "page": "-3"}).status_code == 200


def test_library_filters_by_collection_and_status(tenant_a, login):
    with tenant_a.scope():
        folder = collection_create(organization=tenant_a.organization, actor=tenant_a.users["owner"], name="季節")
        inner = collection_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="夏", parent=folder
        )
    summer = make_file_asset(tenant_a, title="夏の写真", collection=inner)
    other = make_file_asset(tenant_a, title="その他")
    with tenant_a.scope():
        asset_approve(organization=tenant_a.organization, actor=tenant_a.users["owner"], asset=other)
    client = login(tenant_a.users["owner"])
    page = client.get(_url(tenant_a), {"collection": folder.pk}).content.decode()
    assert "夏の写真" in page and "その他" not in page  # sub-collections are part of their collection
    page = client.get(_url(tenant_a), {"status": "approved"}).content.decode()
    assert "その他" in page and "夏の写真" not in page
    assert summer.collection_id == inner.pk


def test_agents_see_only_what_they_may_use_and_no_upload_area(tenant_a, login):
    usable = make_file_asset(tenant_a, title="使える画像")
    make_file_asset(tenant_a, title="承認待ちの画像", requires_approval=True)
    make_file_asset(tenant_a, title="期限切れの画像", expires_at=timezone.now() - timedelta(days=1))
    agent = login(tenant_a.users["agent"])
    page = agent.get(_url(tenant_a)).content.decode()
    assert "使える画像" in page and "承認待ちの画像" not in page and "期限切れの画像" not in page
    assert 'id="asset-uploader"' not in page and "uppy.min.js" not in page
    assert agent.get(_url(tenant_a, f"{usable.pk}/")).status_code == 200
    with tenant_a.scope():
        hidden_id = Asset.objects.get(title="承認待ちの画像").pk
    assert agent.get(_url(tenant_a, f"{hidden_id}/")).status_code == 404

    editor = login(tenant_a.users["editor"])
    page = editor.get(_url(tenant_a)).content.decode()
    assert "承認待ちの画像" in page and "期限切れの画像" in page  # managers see everything, marked
    assert 'id="asset-uploader"' in page and "vendor/uppy/uppy.min.js" in page
    assert f'data-endpoint="/{tenant_a.slug}/assets/uploads/"' in page
    assert "<script>" not in page and " style=" not in page  # strict CSP: no inline script or style


def test_library_queries_do_not_grow_with_assets(tenant_a, login):
    client = login(tenant_a.users["editor"])
    make_file_asset(tenant_a, title="one", tags=["a"])
    for view in ("grid", "list"):
        few = _queries(client, _url(tenant_a) + f"?view={view}")
        for n in range(6):
            make_file_asset(tenant_a, title=f"more {view} {n}", tags=["a", f"t{n}"])
        assert _queries(client, _url(tenant_a) + f"?view={view}") == few
    searched = _queries(client, _url(tenant_a) + "?q=more")
    make_snippet(tenant_a, title="more text")
    assert _queries(client, _url(tenant_a) + "?q=more") == searched


# --- after an upload: tag the new assets at once ---------------------------------------------------------------------


def _finished_upload(tenant, user, asset):
    with tenant.scope():
        return AssetUpload.objects.create(
            organization=tenant.organization, created_by=user, length=10, offset=10, result_asset=asset
        )


def test_just_uploaded_assets_are_listed_and_tagged_together(tenant_a, login):
    editor = tenant_a.users["editor"]
    first, second = (
        make_file_asset(tenant_a, "editor", title="写真1"),
        make_file_asset(tenant_a, "editor", title="写真2"),
    )
    uploads = [_finished_upload(tenant_a, editor, first), _finished_upload(tenant_a, editor, second)]
    someone_elses = _finished_upload(tenant_a, tenant_a.users["owner"], make_file_asset(tenant_a, title="他人の"))
    client = login(editor)
    ids = [str(u.pk) for u in [*uploads, someone_elses]] + ["not-a-uuid"]
    page = client.get(_url(tenant_a, "uploaded/"), {"upload": ids}).content.decode()
    assert "写真1" in page and "写真2" in page and "他人の" not in page
    response = client.post(
        _url(tenant_a, "tags/"),
        {"asset": [first.pk, second.pk], "tags": "新商品、春, キャンペーン"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "2" in response.content.decode()
    with tenant_a.scope():
        assert Asset.objects.get(pk=first.pk).tags == ["新商品", "春", "キャンペーン"]
        assert Asset.objects.get(pk=second.pk).tags == ["新商品", "春", "キャンペーン"]
    assert client.post(_url(tenant_a, "tags/"), {"asset": [first.pk], "tags": ""}).status_code == 400
    assert (
        login(tenant_a.users["agent"]).post(_url(tenant_a, "tags/"), {"asset": [first.pk], "tags": "x"}).status_code
        == 403
    )


# --- one asset ------------------------------------------------------------------------------------------------------


def test_asset_page_shows_facts_versions_and_actions_per_role(tenant_a, login):
    asset = make_file_asset(tenant_a, title="キービジュアル", requires_approval=True, license_note="社内撮影")
    owner_page = login(tenant_a.users["manager"]).get(_url(tenant_a, f"{asset.pk}/")).content.decode()
    assert "16 × 12 px" in owner_page and "image/png" in owner_page and "社内撮影" in owner_page
    assert "Approve for use" in owner_page or "使用を承認" in owner_page or f"/assets/{asset.pk}/approve/" in owner_page
    editor_page = login(tenant_a.users["editor"]).get(_url(tenant_a, f"{asset.pk}/")).content.decode()
    assert f"/assets/{asset.pk}/approve/" not in editor_page  # editors upload; approvers approve
    assert f"/assets/{asset.pk}/versions/" in editor_page and 'id="edit"' in editor_page
    assert f'data-asset="{asset.pk}"' in editor_page and "vendor/uppy/uppy.min.js" in editor_page  # resumable
    approver_page = login(tenant_a.users["approver"]).get(_url(tenant_a, f"{asset.pk}/")).content.decode()
    assert f"/assets/{asset.pk}/approve/" in approver_page and 'id="edit"' not in approver_page


def test_approve_then_archive_then_unarchive(tenant_a, login):
    asset = make_file_asset(tenant_a, title="要承認", requires_approval=True)
    assert login(tenant_a.users["editor"]).post(_url(tenant_a, f"{asset.pk}/approve/")).status_code == 403
    assert login(tenant_a.users["approver"]).post(_url(tenant_a, f"{asset.pk}/approve/")).status_code == 302
    with tenant_a.scope():
        assert Asset.objects.get(pk=asset.pk).status == AssetStatus.APPROVED
    assert login(tenant_a.users["agent"]).post(_url(tenant_a, f"{asset.pk}/archive/")).status_code == 403
    editor = login(tenant_a.users["editor"])
    assert editor.post(_url(tenant_a, f"{asset.pk}/archive/")).status_code == 302
    with tenant_a.scope():
        assert Asset.objects.get(pk=asset.pk).status == AssetStatus.ARCHIVED
    assert editor.post(_url(tenant_a, f"{asset.pk}/unarchive/")).status_code == 302
    with tenant_a.scope():
        assert Asset.objects.get(pk=asset.pk).status == AssetStatus.DRAFT


def test_edit_details_and_expiry_in_the_organization_time_zone(tenant_a, login):
    asset = make_file_asset(tenant_a, title="旧タイトル")
    client = login(tenant_a.users["editor"])
    response = client.post(
        _url(tenant_a, f"{asset.pk}/"),
        {
            "title": "新タイトル",
            "description": "説明",
            "tags": "新商品, 夏",
            "collection": "",
            "language": "ja",
            "license_note": "2027年まで使用可",
            "expires_at": "2099-04-01T09:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_a.scope():
        saved = Asset.objects.get(pk=asset.pk)
    assert saved.title == "新タイトル" and saved.tags == ["新商品", "夏"] and saved.language == "ja"
    assert saved.expires_at.isoformat() == "2099-04-01T00:00:00+00:00"  # 9:00 in Tokyo
    bad = client.post(_url(tenant_a, f"{asset.pk}/"), {"title": "", "expires_at": "yesterday"})
    assert bad.status_code == 400 and 'class="field-error"' in bad.content.decode()
    assert login(tenant_a.users["agent"]).post(_url(tenant_a, f"{asset.pk}/"), {"title": "x"}).status_code == 403


def test_text_versions_compare_and_restore(tenant_a, login):
    snippet = make_snippet(tenant_a, title="営業時間", text="営業時間は9時から18時です。\nお気軽にどうぞ。")
    client = login(tenant_a.users["editor"])
    response = client.post(
        _url(tenant_a, f"{snippet.pk}/versions/"),
        {"text": "営業時間は10時から19時です。\nお気軽にどうぞ。", "note": "時間変更"},
    )
    assert response.status_code == 302
    with tenant_a.scope():
        first, second = AssetVersion.objects.filter(asset=snippet).order_by("number")
    diff = client.get(_url(tenant_a, f"{snippet.pk}/compare/")).content.decode()
    assert '<tr class="diff-delete">' in diff and '<tr class="diff-insert">' in diff
    assert "9時から18時" in diff and "10時から19時" in diff and '<tr class="diff-equal">' in diff
    page = client.get(_url(tenant_a, f"versions/{first.pk}/")).content.decode()
    assert "9時から18時" in page and f"/assets/versions/{first.pk}/restore/" in page
    assert client.post(_url(tenant_a, f"versions/{first.pk}/restore/")).status_code == 302
    with tenant_a.scope():
        restored = Asset.objects.select_related("current_version").get(pk=snippet.pk).current_version
    assert restored.number == 3 and restored.text == first.text and second.number == 2
    assert client.get(_url(tenant_a, f"{snippet.pk}/compare/"), {"old": "x", "new": second.pk}).status_code == 200
    assert login(tenant_a.users["agent"]).post(_url(tenant_a, f"versions/{first.pk}/restore/")).status_code == 403


def test_new_file_version_and_a_refused_file_is_a_clear_error(tenant_a, login):
    asset = make_file_asset(tenant_a, title="バナー")
    client = login(tenant_a.users["editor"])
    wide = upload("banner-v2.png", png_bytes(32, 16), "image/png")
    assert client.post(_url(tenant_a, f"{asset.pk}/versions/"), {"file": wide, "note": "横長"}).status_code == 302
    with tenant_a.scope():
        current = Asset.objects.select_related("current_version").get(pk=asset.pk).current_version
    assert (current.number, current.width, current.height) == (2, 32, 16)
    compare = client.get(_url(tenant_a, f"{asset.pk}/compare/")).content.decode()
    assert "32 × 16" in compare and "16 × 12" in compare
    fake = upload("evil.png", b"<html><script>alert(1)</script></html>", "image/png")
    refused = client.post(_url(tenant_a, f"{asset.pk}/versions/"), {"file": fake})
    assert refused.status_code == 400 and 'class="field-error"' in refused.content.decode()
    with tenant_a.scope():
        assert AssetVersion.objects.filter(asset=asset).count() == 2


def test_delete_asks_first_and_a_used_asset_cannot_be_deleted(tenant_a, login):
    asset = make_file_asset(tenant_a, title="消す画像")
    client = login(tenant_a.users["editor"])
    asked = client.post(_url(tenant_a, f"{asset.pk}/delete/"))
    assert asked.status_code == 200 and 'name="confirmed"' in asked.content.decode()
    assert client.post(_url(tenant_a, f"{asset.pk}/delete/"), {"confirmed": "yes"}).status_code == 302
    with tenant_a.scope():
        assert not Asset.objects.filter(pk=asset.pk).exists()
    used = make_file_asset(tenant_a, title="使った画像")
    ticket = _ticket_for(tenant_a, tenant_a.users["agent"])
    with tenant_a.scope():
        message = Message.objects.filter(ticket=ticket).first()
        asset_usage_record(
            organization=tenant_a.organization, actor=None, versions=[used.current_version], target=message
        )
    response = client.post(_url(tenant_a, f"{used.pk}/delete/"), {"confirmed": "yes"}, follow=True)
    assert response.status_code == 200
    with tenant_a.scope():
        assert Asset.objects.filter(pk=used.pk).exists()


def test_new_text_snippet(tenant_a, login):
    client = login(tenant_a.users["editor"])
    assert client.get(_url(tenant_a, "new/")).status_code == 200
    response = client.post(
        _url(tenant_a, "new/"),
        {"kind": "template", "title": "返品のご案内", "text": "返品は到着後7日以内にご連絡ください。", "tags": "返品"},
    )
    assert response.status_code == 302
    with tenant_a.scope():
        asset = Asset.objects.get(title="返品のご案内")
    assert asset.kind == "template" and asset.tags == ["返品"] and asset.current_version.text.startswith("返品は")
    assert client.post(_url(tenant_a, "new/"), {"kind": "snippet", "title": "空"}).status_code == 400
    assert login(tenant_a.users["agent"]).get(_url(tenant_a, "new/")).status_code == 403


def test_asset_page_queries_do_not_grow_with_versions_and_uses(tenant_a, login):
    asset = make_file_asset(tenant_a, title="よく使う画像")
    ticket = _ticket_for(tenant_a, tenant_a.users["agent"])
    client = login(tenant_a.users["manager"])
    url = _url(tenant_a, f"{asset.pk}/")
    with tenant_a.scope():
        message = Message.objects.filter(ticket=ticket).first()
        asset_usage_record(
            organization=tenant_a.organization, actor=None, versions=[asset.current_version], target=message
        )
    few = _queries(client, url)
    for n in range(4):
        client.post(
            _url(tenant_a, f"{asset.pk}/versions/"), {"file": upload(f"v{n}.png", png_bytes(8 + n, 8), "image/png")}
        )
        other_ticket = _ticket_for(tenant_a, tenant_a.users["agent"])
        with tenant_a.scope():
            version = Asset.objects.select_related("current_version").get(pk=asset.pk).current_version
            target = Message.objects.filter(ticket=other_ticket).first()
            asset_usage_record(organization=tenant_a.organization, actor=None, versions=[version], target=target)
    assert _queries(client, url) == few


# --- collections ----------------------------------------------------------------------------------------------------


def test_collections_created_by_organizers_and_rights_set_by_admins(tenant_a, login):
    editor = login(tenant_a.users["editor"])
    response = editor.post(_url(tenant_a, "collections/"), {"name": "サポート用テンプレート"})
    assert response.status_code == 302
    with tenant_a.scope():
        folder = Collection.objects.get(name="サポート用テンプレート")
    assert (
        editor.post(_url(tenant_a, f"collections/{folder.pk}/rights/"), {"right": "role:agent:can_use"}).status_code
        == 403
    )
    assert login(tenant_a.users["agent"]).get(_url(tenant_a, "collections/")).status_code == 403

    with tenant_a.scope():
        team = account_services.team_create(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            name="サポート",
            members=[tenant_a.users["agent"]],
        )
    admin = login(tenant_a.users["admin"])
    page = admin.get(_url(tenant_a, f"collections/{folder.pk}/")).content.decode()
    assert f'value="team:{team.pk}:can_upload"' in page
    rights = {"right": [f"team:{team.pk}:can_use", f"team:{team.pk}:can_upload", "role:manager:can_approve", "bad:x:y"]}
    assert admin.post(_url(tenant_a, f"collections/{folder.pk}/rights/"), rights).status_code == 302
    with tenant_a.scope():
        grants = {
            (g.role_key, g.team_id): (g.can_use, g.can_upload, g.can_approve) for g in CollectionGrant.objects.all()
        }
    assert grants == {("", team.pk): (True, True, False), ("manager", None): (False, False, True)}

    # The agent's team may now upload into that collection (and only there): a reply template of its own.
    agent = login(tenant_a.users["agent"])
    form = agent.get(_url(tenant_a, "new/")).content.decode()
    assert "サポート用テンプレート" in form
    response = agent.post(
        _url(tenant_a, "new/"),
        {"kind": "template", "title": "チーム用", "text": "承知しました。", "collection": folder.pk},
    )
    assert response.status_code == 302
    refused = agent.post(_url(tenant_a, "new/"), {"kind": "template", "title": "外", "text": "x", "collection": ""})
    assert refused.status_code in (400, 403)


def test_collection_rename_and_delete_only_when_empty(tenant_a, login):
    client = login(tenant_a.users["editor"])
    with tenant_a.scope():
        folder = collection_create(organization=tenant_a.organization, actor=tenant_a.users["owner"], name="旧")
    assert client.post(_url(tenant_a, f"collections/{folder.pk}/"), {"name": "新", "parent": ""}).status_code == 302
    make_file_asset(tenant_a, title="中身", collection=folder)
    client.post(_url(tenant_a, f"collections/{folder.pk}/delete/"), {"confirmed": "yes"})
    with tenant_a.scope():
        assert Collection.objects.get(pk=folder.pk).name == "新"
        Asset.objects.filter(collection=folder).update(collection=None)
    assert client.post(_url(tenant_a, f"collections/{folder.pk}/delete/"), {"confirmed": "yes"}).status_code == 302
    with tenant_a.scope():
        assert not Collection.objects.filter(pk=folder.pk).exists()


# --- the picker and a reply that uses an asset ----------------------------------------------------------------------


def test_picker_offers_only_usable_assets_of_the_accepted_kinds(tenant_a, login):
    usable = make_file_asset(tenant_a, title="使える新商品")
    snippet = make_snippet(tenant_a, title="新商品の説明", text="新商品は来月発売です。")
    make_file_asset(tenant_a, title="新商品 承認待ち", requires_approval=True)
    make_file_asset(tenant_a, title="新商品 期限切れ", expires_at=timezone.now() - timedelta(minutes=1))
    client = login(tenant_a.users["manager"])  # sees everything in the library, picks only what is usable
    page = client.get(_url(tenant_a, "picker/"), {"q": "新商品", "accept": "file,snippet"}).content.decode()
    assert f'data-version-id="{usable.current_version_id}"' in page
    assert f'data-version-id="{snippet.current_version_id}"' in page and 'data-text="新商品は来月発売です。"' in page
    assert "承認待ち" not in page and "期限切れ" not in page
    only_text = client.get(_url(tenant_a, "picker/"), {"accept": "snippet,template"}).content.decode()
    assert f'data-version-id="{usable.current_version_id}"' not in only_text


def test_picker_queries_do_not_grow(tenant_a, login):
    client = login(tenant_a.users["agent"])
    make_file_asset(tenant_a, title="a")
    few = _queries(client, _url(tenant_a, "picker/?accept=file,snippet,template"))
    for n in range(5):
        make_file_asset(tenant_a, title=f"b{n}")
        make_snippet(tenant_a, title=f"s{n}")
    assert _queries(client, _url(tenant_a, "picker/?accept=file,snippet,template")) == few


def test_reply_with_a_picked_file_copies_it_and_records_the_use(tenant_a, login):
    agent = tenant_a.users["agent"]
    ticket = _ticket_for(tenant_a, agent)
    asset = make_file_asset(tenant_a, title="新商品の写真", data=png_bytes(20, 10), filename="new.png")
    snippet = make_snippet(tenant_a, title="新商品の案内", text="新商品のご案内です。")
    client = login(agent)
    conversation = client.get(f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/").content.decode()
    assert (
        'data-asset-field="asset_versions"' in conversation
        and 'data-asset-picker-open="asset-picker-reply"' in conversation
    )
    response = client.post(
        f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/reply/",
        {"text": "新商品のご案内です。", "asset_versions": [asset.current_version_id, snippet.current_version_id]},
    )
    assert response.status_code == 200, response.content.decode()
    with tenant_a.scope():
        message = Message.objects.filter(ticket=ticket, direction="outbound").get()
        attachment = Attachment.objects.get(message=message)
        usages = list(AssetUsage.objects.order_by("asset_id").values_list("asset_id", "version_id", "target_id"))
        version = AssetVersion.objects.get(pk=asset.current_version_id)
        stored_name = version.file.name
    assert attachment.filename == "new.png" and attachment.content_type == "image/png"
    assert attachment.file.name != stored_name  # a copy: the message keeps it whatever happens to the asset
    with attachment.file.open("rb") as copy:
        assert copy.read() == png_bytes(20, 10)
    assert usages == [
        (asset.pk, asset.current_version_id, message.pk),
        (snippet.pk, snippet.current_version_id, message.pk),
    ]
    page = client.get(_url(tenant_a, f"{asset.pk}/")).content.decode()
    assert f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/" in page and f"#{ticket.number}" in page
    # A member who cannot see the conversation sees that it was used, not where.
    hidden = login(tenant_a.users["editor"]).get(_url(tenant_a, f"{asset.pk}/")).content.decode()
    assert f"/inbox/tickets/{ticket.pk}/" not in hidden and 'class="usage-row usage-reply"' in hidden


@pytest.mark.parametrize("problem", ["expired", "unapproved", "archived", "foreign", "garbage"])
def test_reply_refuses_an_asset_that_may_not_be_used(problem, tenant_a, tenant_b, login):
    agent = tenant_a.users["agent"]
    ticket = _ticket_for(tenant_a, agent)
    if problem == "foreign":
        version_id = make_file_asset(tenant_b, title="他社").current_version_id
    elif problem == "garbage":
        version_id = "12;drop"
    else:
        kwargs = {
            "expired": {"expires_at": timezone.now() + timedelta(seconds=1)},
            "unapproved": {"requires_approval": True},
            "archived": {},
        }[problem]
        asset = make_file_asset(tenant_a, title="使えない画像", **kwargs)
        version_id = asset.current_version_id
        with tenant_a.scope():
            if problem == "expired":
                Asset.objects.filter(pk=asset.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
            if problem == "archived":
                Asset.objects.filter(pk=asset.pk).update(status=AssetStatus.ARCHIVED)
    response = login(agent).post(
        f"/{tenant_a.slug}/inbox/tickets/{ticket.pk}/reply/", {"text": "どうぞ", "asset_versions": [version_id]}
    )
    assert response.status_code == 400 and response.content.decode()
    with tenant_a.scope():
        assert not Message.objects.filter(ticket=ticket, direction="outbound").exists()
        assert not AssetUsage.objects.exists()


def test_usage_lists_a_post_with_its_title_and_link_in_constant_queries(tenant_a, login):
    from approvals.models import Post, PostVersion

    asset = make_file_asset(tenant_a, title="キャンペーン画像")
    client = login(tenant_a.users["editor"])
    url = _url(tenant_a, f"{asset.pk}/")

    def post_using(title):
        with tenant_a.scope():
            post = Post.objects.create(organization=tenant_a.organization, title=title, author=tenant_a.users["editor"])
            version = PostVersion.objects.create(organization=tenant_a.organization, post=post, number=1, text=title)
            asset_usage_record(
                organization=tenant_a.organization, actor=None, versions=[asset.current_version], target=version
            )
        return post

    first = post_using("夏のキャンペーン告知")
    page = client.get(url).content.decode()
    assert 'class="usage-row usage-post"' in page and "夏のキャンペーン告知" in page
    assert f'href="/{tenant_a.slug}/posts/{first.pk}/"' in page
    few = _queries(client, url)
    for n in range(3):
        post_using(f"告知 {n}")
    assert _queries(client, url) == few
