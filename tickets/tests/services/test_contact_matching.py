"""Matching: exact matches merge only when the organization enables it (else they are suggested); probable
duplicates (the same name plus another signal) are only ever suggested; a dismissed pair is not suggested again."""

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from tickets.models import Contact, ContactDuplicateSuggestion, ContactMerge, SuggestionStatus
from tickets.services.contact_matching import (
    contact_match,
    contacts_match,
    name_keys,
    suggestion_dismiss,
    suggestions_open,
)
from tickets.services.contact_merge import contact_merge_undo
from tickets.services.contacts import contact_create, contact_identity_add, contact_settings_update
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "a, b",
    [
        (("山田 花子", ""), ("山田花子", "")),
        (("山田 花子様", ""), ("山田 花子", "")),
        (("やまだ はなこ", ""), ("山田 花子", "ヤマダ ハナコ")),  # kana against the other's reading
        (("ﾔﾏﾀﾞ ﾊﾅｺ", ""), ("山田 花子", "やまだ はなこ")),  # half-width katakana
        (("Hanako Yamada", ""), ("YAMADA hanako", "")),
        (("Ｈａｎａｋｏ　Ｙａｍａｄａ", ""), ("hanako yamada", "")),
    ],
)
def test_the_same_name_in_its_usual_japanese_and_latin_variants(a, b):
    assert name_keys(*a) & name_keys(*b)


@pytest.mark.parametrize("a, b", [(("山田 花子", ""), ("山田 太郎", "")), (("Hanako", ""), ("Hanae", ""))])
def test_different_names_do_not_match(a, b):
    assert not name_keys(*a) & name_keys(*b)


@pytest.fixture(autouse=True)
def _after_commit(django_capture_on_commit_callbacks):
    """What services do after commit (the matching task, eager in tests) runs as it would on a real commit."""
    global _commits
    _commits = django_capture_on_commit_callbacks


def _two(tenant, first: dict, second: dict):
    with tenant.scope():
        with _commits(execute=True):
            a = contact_create(organization=tenant.organization, actor=None, **first)
        with _commits(execute=True):
            b = contact_create(organization=tenant.organization, actor=None, **second)
        return a, b


def test_exact_matches_are_suggested_not_merged_by_default(tenant_a):
    a, b = _two(tenant_a, {"name": "A", "phones": ["090-1234-5678"]}, {"name": "B", "phones": ["+819012345678"]})
    with tenant_a.scope():
        # The task ran after each create committed (eager in tests); run it again: idempotent.
        contact_match(organization=tenant_a.organization, contact_id=b.pk)
        suggestion = ContactDuplicateSuggestion.objects.get()
        assert (suggestion.contact_id, suggestion.other_id, suggestion.reasons) == (a.pk, b.pk, ["phone"])
        assert suggestion.status == SuggestionStatus.OPEN and suggestion.score == 1.0
        assert not ContactMerge.objects.exists() and Contact.objects.filter(merged_into__isnull=False).count() == 0


def test_exact_matches_merge_automatically_when_enabled_and_can_be_undone(tenant_a):
    with tenant_a.scope():
        contact_settings_update(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], auto_merge_exact=True
        )
    a, b = _two(
        tenant_a, {"name": "A", "emails": ["Hanako@Example.jp"]}, {"name": "B", "emails": ["hanako@example.jp"]}
    )
    with tenant_a.scope():
        merge = ContactMerge.objects.get()
        assert (merge.survivor_id, merge.merged_id, merge.automatic, merge.reason) == (a.pk, b.pk, True, "email")
        assert Contact.objects.get(pk=b.pk).merged_into_id == a.pk
        contact_merge_undo(organization=tenant_a.organization, actor=tenant_a.users["agent"], merge=merge)
        assert Contact.objects.filter(merged_into__isnull=True).count() == 2


def test_ingested_customers_with_the_same_address_are_merged_when_enabled(tenant_a):
    email, line = connection(tenant_a, "email"), connection(tenant_a, "line")
    with tenant_a.scope():
        contact_settings_update(organization=tenant_a.organization, actor=None, auto_merge_exact=True)
        with _commits(execute=True):
            message_ingest(
                organization=tenant_a.organization,
                connection=line,
                inbound=inbound("LINE", author="U1", author_email="hanako@example.jp"),
            )
        with _commits(execute=True):
            message_ingest(
                organization=tenant_a.organization,
                connection=email,
                inbound=inbound("mail", author="hanako@example.jp", author_email="HANAKO@example.jp", thread="m"),
            )
        assert Contact.objects.filter(merged_into__isnull=True).count() == 1
        survivor = Contact.objects.get(merged_into__isnull=True)
        assert survivor.tickets.count() == 2 and survivor.identities.count() == 2


def test_a_similar_name_plus_another_signal_is_suggested_never_merged(tenant_a):
    with tenant_a.scope():
        contact_settings_update(organization=tenant_a.organization, actor=None, auto_merge_exact=True)
    a, b = _two(
        tenant_a,
        {"name": "山田 花子", "reading": "ヤマダ ハナコ", "company": "株式会社サンプル"},
        {"name": "やまだ はなこ", "company": "株式会社サンプル"},
    )
    with tenant_a.scope():
        suggestion = ContactDuplicateSuggestion.objects.get()
        assert suggestion.reasons == ["name", "company"] and suggestion.status == SuggestionStatus.OPEN
        assert not ContactMerge.objects.exists()  # never merged silently, even with automatic merging on
        assert list(suggestions_open()) == [suggestion]


def test_the_same_handle_on_two_platforms_with_the_same_name_is_suggested(tenant_a):
    org = tenant_a.organization
    a, b = _two(tenant_a, {"name": "Hanako Yamada"}, {"name": "yamada hanako"})
    with tenant_a.scope():
        contact_identity_add(organization=org, actor=None, contact=a, platform="x", external_id="1", handle="@hanako_y")
        contact_identity_add(
            organization=org, actor=None, contact=b, platform="instagram", external_id="2", handle="Hanako_Y"
        )
        contact_match(organization=org, contact_id=b.pk)
        assert ContactDuplicateSuggestion.objects.get().reasons == ["name", "handle"]


def test_a_name_alone_or_a_public_mail_domain_is_not_enough(tenant_a):
    _two(tenant_a, {"name": "佐藤 健"}, {"name": "佐藤 健"})
    _two(tenant_a, {"name": "田中 一郎", "emails": ["a@gmail.com"]}, {"name": "田中 一郎", "emails": ["b@gmail.com"]})
    with tenant_a.scope():
        assert not ContactDuplicateSuggestion.objects.exists()


def test_a_dismissed_pair_is_not_suggested_again(tenant_a):
    a, b = _two(tenant_a, {"name": "A", "phones": ["03-1234-5678"]}, {"name": "B", "phones": ["0312345678"]})
    with tenant_a.scope():
        suggestion_dismiss(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            suggestion=ContactDuplicateSuggestion.objects.get(),
        )
        assert contact_match(organization=tenant_a.organization, contact_id=a.pk) == []
        assert ContactDuplicateSuggestion.objects.get().status == SuggestionStatus.DISMISSED
        assert list(suggestions_open()) == []


@pytest.mark.parametrize("others", [3, 12])
def test_a_common_name_at_one_company_is_suggested_in_two_statements_however_many_share_it(
    tenant_a, others, django_assert_num_queries
):
    """The suggestions of one contact are written together: a name shared by dozens of customers of one company
    must not cost a savepoint and a get-or-create per pair (the email bench's 700 customers made 5,297 pairs)."""
    org = tenant_a.organization
    with tenant_a.scope():
        existing = [
            contact_create(organization=org, actor=None, name="山田 太郎", emails=[f"t{i}@sample.co.jp"])
            for i in range(others)
        ]
        new = contact_create(organization=org, actor=None, name="山田太郎 様", emails=["new@sample.co.jp"])
        # the contact, the settings, the exact lookup, the name search, the handles; the INSERT and the read
        with django_assert_num_queries(7):
            results = contact_match(organization=org, contact_id=new.pk)
        assert sorted(results) == sorted(("suggested", c.pk) for c in existing)
        stored = ContactDuplicateSuggestion.objects.filter(other=new)
        assert stored.count() == others
        assert {tuple(s.reasons) for s in stored} == {("name", "email_domain")}
        # again: nothing new, nothing twice
        assert sorted(contact_match(organization=org, contact_id=new.pk)) == sorted(results)
        assert ContactDuplicateSuggestion.objects.filter(other=new).count() == others


def test_a_pair_suggested_before_gains_the_new_reasons_and_the_higher_score(tenant_a):
    org = tenant_a.organization
    a, b = _two(tenant_a, {"name": "山田 花子", "company": "サンプル"}, {"name": "山田花子", "company": "サンプル"})
    with tenant_a.scope():
        suggestion = ContactDuplicateSuggestion.objects.get()
        assert (suggestion.reasons, suggestion.score) == (["name", "company"], 0.6)
        Contact.objects.filter(pk__in=[a.pk, b.pk]).update(phones=["+81312345678"])
        contact_match(organization=org, contact_id=b.pk)
        suggestion.refresh_from_db()
        assert (sorted(suggestion.reasons), suggestion.score) == (["company", "name", "phone"], 1.0)
        assert ContactDuplicateSuggestion.objects.count() == 1


def _unmatched(tenant, people: list[dict]) -> list[int]:
    """Contacts created without their matching task (its on-commit callback dropped)."""
    with tenant.scope(), _commits(execute=False):
        return [contact_create(organization=tenant.organization, actor=None, **person).pk for person in people]


def test_a_batch_is_matched_with_the_same_reads_however_many_contacts_it_has(tenant_a):
    """The matching task of an ingest batch reads the contacts, the settings, every contact's candidates (one
    statement) and their handles once for the whole batch: a batch of 12 costs what a batch of 2 costs."""
    org = tenant_a.organization
    counts = []
    for size in (2, 12):
        ids = _unmatched(
            tenant_a, [{"name": f"山田 {size}-{n}", "emails": [f"p{n}@corp{size}-{n}.jp"]} for n in range(size)]
        )
        ids += _unmatched(tenant_a, [{"name": "佐藤 健"} for _ in range(size)])  # the same name, nothing else shared
        with tenant_a.scope(), CaptureQueriesContext(db_connection) as queries:
            assert contacts_match(organization=org, contact_ids=ids) == {pk: [] for pk in ids}
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1] <= 4


def test_a_batch_finds_what_matching_its_contacts_one_by_one_finds(tenant_a):
    org = tenant_a.organization
    _unmatched(
        tenant_a,
        [
            {"name": "Old", "phones": ["090-1111-2222"]},
            {"name": "鈴木 一郎", "reading": "スズキ イチロウ", "company": "株式会社東"},
        ],
    )
    ids = _unmatched(
        tenant_a,
        [
            {"name": "New", "phones": ["+819011112222"]},  # exact: the old contact's number
            {"name": "すずき いちろう", "reading": "スズキ イチロウ", "company": "株式会社東"},  # probable
            {"name": "鈴木 一郎", "company": "株式会社東"},  # probable: the old one
            {"name": "Nobody"},
        ],
    )
    with tenant_a.scope():
        batch = contacts_match(organization=org, contact_ids=ids)
        assert [len(batch[pk]) for pk in ids] == [1, 1, 1, 0]
        suggestions = ContactDuplicateSuggestion.objects.count()
        # One by one now (idempotent: the same open suggestions, nothing new).
        assert batch == {pk: contact_match(organization=org, contact_id=pk) for pk in ids}
        assert ContactDuplicateSuggestion.objects.count() == suggestions == 3


def test_a_batch_with_an_automatic_merge_is_matched_one_by_one(tenant_a):
    """A merge changes what the following contacts find: the batch then matches its contacts in turn."""
    org = tenant_a.organization
    with tenant_a.scope():
        contact_settings_update(organization=org, actor=None, auto_merge_exact=True)
    ids = _unmatched(tenant_a, [{"name": "A", "emails": ["a@example.jp"]}, {"name": "B", "emails": ["A@example.jp"]}])
    with tenant_a.scope():
        assert contacts_match(organization=org, contact_ids=ids) == {ids[0]: [("merged", ids[1])], ids[1]: []}
        assert Contact.objects.get(pk=ids[1]).merged_into_id == ids[0]
