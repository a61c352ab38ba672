"""CSV import of posts: Excel's Shift_JIS (CP932), UTF-8 with BOM, exact errors per row and column, nothing created
before confirmation, valid rows into the approval flow, the Celery path with progress, and a 10,000-row file."""

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from approvals.models import Post, PostStatus
from approvals.services import post_import
from approvals.tests.helpers import workflow
from core.errors import DomainError
from tickets.tests.factories import connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(tenant_a):
    facebook = connection(tenant_a, "facebook", "公式ページ")
    with tenant_a.scope():
        account_services.connection_access_set(
            organization=tenant_a.organization,
            actor=tenant_a.users["owner"],
            connection=facebook,
            users=[tenant_a.users["editor"]],
        )
    return facebook


def _when(days=2):
    return (timezone.now() + timedelta(days=days)).astimezone(ZoneInfo("Asia/Tokyo"))


def _excel(rows: list[list[str]]) -> bytes:
    """What Excel on Japanese Windows saves as “CSV (comma delimited)”: CP932, CRLF, quotes only where needed."""
    lines = []
    for row in rows:
        cells = []
        for cell in row:
            if any(c in cell for c in ',"\r\n'):
                cell = '"' + cell.replace('"', '""') + '"'
            cells.append(cell)
        lines.append(",".join(cells))
    return ("\r\n".join(lines) + "\r\n").encode("cp932")


def _check(tenant, data: bytes):
    with tenant.scope():
        return post_import.import_check(organization=tenant.organization, actor=tenant.users["editor"], data=data)


def test_shift_jis_from_excel_with_bad_rows(tenant_a, page):
    when = _when().strftime("%Y/%m/%d %H:%M")
    data = _excel(
        [
            ["本文", "チャネル", "予約日時", "キャンペーン", "承認後すぐ公開"],
            ["①春のセール開始！髙島屋店も対象です", "公式ページ", when, "spring;sale", ""],
            ["改行を含む\r\n本文", str(page.pk), "", "", "はい"],
            ["チャネルなし", "", when, "", ""],
            ["未知のチャネル", "存在しない", when, "", ""],
            ["時刻がおかしい", "公式ページ", "明日の朝", "", ""],
            ["過去", "公式ページ", "2020/01/01 09:00", "", ""],
            ["", "公式ページ", when, "", ""],
        ]
    )
    result = _check(tenant_a, data)
    assert result["encoding"] == "shift_jis"
    rows = {r["line"]: r for r in result["rows"]}
    assert rows[2]["valid"] and rows[2]["values"]["text"].startswith("①春のセール開始！髙島屋店")
    assert rows[2]["values"]["campaign_tags"] == ["spring", "sale"]
    assert rows[3]["valid"] and rows[3]["values"]["text"] == "改行を含む\n本文"
    assert rows[3]["values"]["publish_when_approved"] is True
    assert [e[0] for e in rows[4]["errors"]] == ["channels"]
    assert [e[0] for e in rows[5]["errors"]] == ["channels"] and "存在しない" in rows[5]["errors"][0][1]
    assert [e[0] for e in rows[6]["errors"]] == ["scheduled_at"]
    assert [e[0] for e in rows[7]["errors"]] == ["scheduled_at"]
    assert rows[8]["errors"] and rows[8]["errors"][0][0] == "text"
    assert result["valid"] == 2 and result["invalid"] == 5
    with tenant_a.scope():
        assert not Post.objects.exists()  # nothing before confirmation


def test_utf8_with_bom_and_confirm_enters_approval(tenant_a, page):
    workflow(tenant_a, steps=({"roles": ["approver"]},), is_default=True)
    when = _when().strftime("%Y-%m-%d %H:%M")
    data = (f"text,channels,scheduled_at,variant:公式ページ\n新商品,公式ページ,{when},ページ用の文\n").encode(
        "utf-8-sig"
    )
    result = _check(tenant_a, data)
    assert result["encoding"] == "utf-8" and result["valid"] == 1
    with tenant_a.scope():
        ids = post_import.import_create(
            organization=tenant_a.organization, actor=tenant_a.users["editor"], rows=result["rows"]
        )
        post = Post.objects.select_related("current_version").get(pk=ids[0])
    assert post.status == PostStatus.IN_REVIEW
    assert post.current_version.text_for(page.pk) == "ページ用の文"
    assert post.scheduled_at == _when().replace(second=0, microsecond=0)


def test_file_level_errors(tenant_a, page):
    with pytest.raises(DomainError):
        _check(tenant_a, b"")
    with pytest.raises(DomainError) as error:
        _check(tenant_a, "本文,謎の列\nx,y\n".encode())
    assert "謎の列" in str(error.value.message)
    with pytest.raises(DomainError):
        _check(tenant_a, b"\xff\xfe\x00\x81\xff")  # neither UTF-8 nor CP932


def test_upload_preview_confirm_through_tasks(tenant_a, page, login, django_assert_max_num_queries):
    client = login(tenant_a.users["editor"])
    slug = tenant_a.organization.slug
    when = _when().strftime("%Y/%m/%d %H:%M")
    data = _excel([["本文", "チャネル", "予約日時"], ["告知", "公式ページ", when], ["x", "ない", when]])
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        reverse("org:post_import", args=[slug]), {"file": SimpleUploadedFile("posts.csv", data, "text/csv")}
    )
    assert response.status_code == 302
    status_url = response["Location"]
    # Celery runs eagerly under test: the check is done.
    with django_assert_max_num_queries(20):
        page_html = client.get(status_url).content.decode()
    assert "ない" in page_html
    assert client.get(status_url + "?format=json").json()["phase"] == "preview"
    import_id = status_url.rstrip("/").split("/")[-1]
    client.post(reverse("org:post_import_confirm", args=[slug, import_id]))
    state = client.get(status_url + "?format=json").json()
    assert state["phase"] == "done" and state["created"] == 1
    # Another member cannot see this import.
    other = login(tenant_a.users["owner"])
    assert other.get(status_url).status_code == 404


def test_ten_thousand_rows(tenant_a, page, capsys):
    when = _when().strftime("%Y-%m-%d %H:%M")
    rows = [["text", "channels", "scheduled_at", "campaign"]]
    rows += [[f"投稿その{n}：新しい季節のお知らせです。", "公式ページ", when, "bulk"] for n in range(10_000)]
    rows[5001][1] = "ない"
    data = _excel(rows)
    started = time.monotonic()
    result = _check(tenant_a, data)
    elapsed = time.monotonic() - started
    assert len(result["rows"]) == 10_000
    assert result["valid"] == 9_999 and result["invalid"] == 1
    bad = next(r for r in result["rows"] if not r["valid"])
    assert bad["line"] == 5002 and bad["errors"][0][0] == "channels"
    with capsys.disabled():
        print(f"\n10,000-row CSV checked in {elapsed:.1f}s ({len(data) / 1024:.0f} KiB, CP932)")
