"""Contacts: addresses and numbers in one normal form, custom attributes checked against their definitions,
identities unique per platform account — also when two workers ingest the same new customer at once."""

import threading
import time

import pytest
from django.db import connection as db_connection
from django.db import transaction

from core.errors import Conflict, DomainError
from tickets.models import AttributeType, Contact, ContactIdentity, Message
from tickets.services.contacts import (
    ContactAttributeError,
    contact_attribute_define,
    contact_attributes_clean,
    contact_create,
    contact_identity_add,
    contact_settings_update,
    contact_update,
    email_normalise,
    phone_normalise,
)
from tickets.services.ingest import message_ingest
from tickets.tests.factories import connection, inbound

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "typed, e164",
    [
        ("03-1234-5678", "+81312345678"),
        ("0312345678", "+81312345678"),
        ("(03) 1234-5678", "+81312345678"),
        ("090-1234-5678", "+819012345678"),
        ("09012345678", "+819012345678"),
        ("+81 90-1234-5678", "+819012345678"),
        ("+81-90-1234-5678", "+819012345678"),
        ("+819012345678", "+819012345678"),
        ("０９０－１２３４－５６７８", "+819012345678"),  # full-width digits and hyphen
        ("０９０ー１２３４ー５６７８", "+819012345678"),  # the long-vowel mark typed for a hyphen
        ("0120-123-456", "+81120123456"),  # toll-free
        ("0120123456", "+81120123456"),
        ("050-1234-5678", "+815012345678"),  # IP phone
        ("06-6123-4567", "+81661234567"),  # Osaka
        ("+1 415-555-0100", "+14155550100"),
    ],
)
def test_japanese_phone_formats_become_e164(typed, e164):
    assert phone_normalise(typed) == e164


def test_a_number_without_country_code_belongs_to_the_region_given():
    assert phone_normalise("(415) 555-0100", region="US") == "+14155550100"


@pytest.mark.parametrize("typed", ["12345", "abc", "090-1234", "+81 00 0000 0000"])
def test_what_is_not_a_phone_number_is_refused(typed):
    with pytest.raises(DomainError) as excinfo:
        phone_normalise(typed)
    assert excinfo.value.field == "phones"


@pytest.mark.parametrize(
    "typed, normal",
    [
        ("Hanako.Yamada@Example.JP", "hanako.yamada@example.jp"),
        ("  hanako@example.jp  ", "hanako@example.jp"),
        ("ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ", "hanako@example.jp"),  # typed in full width
        ("HANAKO+shop@EXAMPLE.co.jp", "hanako+shop@example.co.jp"),
    ],
)
def test_email_addresses_are_compared_lower_cased_and_half_width(typed, normal):
    assert email_normalise(typed) == normal


@pytest.mark.parametrize("typed", ["hanako", "hanako@", "@example.jp", "hanako@@example.jp"])
def test_what_is_not_an_address_is_refused(typed):
    with pytest.raises(DomainError):
        email_normalise(typed)


def test_create_stores_normal_forms_and_the_main_address(tenant_a):
    with tenant_a.scope():
        contact = contact_create(
            organization=tenant_a.organization,
            actor=tenant_a.users["agent"],
            name="山田 花子",
            reading="やまだ はなこ",
            emails=["Hanako@Example.JP", "hanako@example.jp", "h.yamada@shop.example.jp"],
            phones=["090-1234-5678", "+81 90 1234 5678", "03-1234-5678"],
            company="株式会社サンプル",
            language="ja",
            timezone="Asia/Tokyo",
            consent_marketing=True,
        )
        contact.refresh_from_db()
        assert contact.emails == ["hanako@example.jp", "h.yamada@shop.example.jp"]
        assert contact.email == "hanako@example.jp"
        assert contact.phones == ["+819012345678", "+81312345678"]
        assert contact.reading == "ヤマダ ハナコ"
        assert contact.consent_marketing and contact.consent_updated_at is not None
        # Found by a number as people write it, and by the reading in hiragana.
        from tickets.search import filter_matching

        assert list(filter_matching(Contact.objects.all(), "03-1234-5678")) == [contact]
        assert list(filter_matching(Contact.objects.all(), "はなこ")) == [contact]


@pytest.mark.parametrize(
    "field, value",
    [("timezone", "Tokyo"), ("language", "Japanese!"), ("avatar_url", "javascript:alert(1)"), ("phones", ["123"])],
)
def test_bad_fields_are_refused_with_the_field_named(tenant_a, field, value):
    with tenant_a.scope(), pytest.raises(DomainError) as excinfo:
        contact_create(organization=tenant_a.organization, actor=None, name="x", **{field: value})
    assert excinfo.value.field == field


def test_phone_numbers_follow_the_organizations_region(tenant_a):
    with tenant_a.scope():
        contact_settings_update(organization=tenant_a.organization, actor=tenant_a.users["owner"], phone_region="us")
        contact = contact_create(organization=tenant_a.organization, actor=None, phones=["(415) 555-0100"])
        assert contact.phones == ["+14155550100"]


def test_custom_attributes_are_checked_against_their_definitions(tenant_a):
    org, owner = tenant_a.organization, tenant_a.users["owner"]
    with tenant_a.scope():
        contact_attribute_define(organization=org, actor=owner, key="member_no", label="会員番号", required=True)
        contact_attribute_define(organization=org, actor=owner, key="points", label="Points", type=AttributeType.NUMBER)
        contact_attribute_define(organization=org, actor=owner, key="birthday", label="誕生日", type=AttributeType.DATE)
        contact_attribute_define(
            organization=org, actor=owner, key="plan", label="Plan", type=AttributeType.CHOICE, choices=["free", "pro"]
        )
        clean = contact_attributes_clean(
            organization=org,
            values={"member_no": "A-1", "points": "１，２００", "birthday": "1990/04/01", "plan": "pro"},
        )
        assert clean == {"member_no": "A-1", "points": 1200, "birthday": "1990-04-01", "plan": "pro"}
        with pytest.raises(ContactAttributeError) as excinfo:
            contact_attributes_clean(
                organization=org,
                values={"points": "many", "birthday": "April", "plan": "gold", "nickname": "x"},
            )
        assert set(excinfo.value.errors) == {"points", "birthday", "plan", "nickname", "member_no"}
        # A required attribute must be given when a contact is created by hand...
        with pytest.raises(ContactAttributeError):
            contact_create(organization=org, actor=owner, name="佐藤")
        contact = contact_create(organization=org, actor=owner, name="佐藤", attributes={"member_no": "B-2"})
        # ...and an edit keeps the others.
        contact = contact_update(organization=org, contact=contact, actor=owner, attributes={"points": 5})
        assert contact.attributes == {"member_no": "B-2", "points": 5}


def test_a_definition_key_is_unique_and_well_formed(tenant_a):
    org, owner = tenant_a.organization, tenant_a.users["owner"]
    with tenant_a.scope():
        contact_attribute_define(organization=org, actor=owner, key="plan", label="Plan")
        with pytest.raises(Conflict):
            contact_attribute_define(organization=org, actor=owner, key="plan", label="Plan again")
        with pytest.raises(DomainError):
            contact_attribute_define(organization=org, actor=owner, key="Bad Key", label="x")
        with pytest.raises(DomainError):
            contact_attribute_define(organization=org, actor=owner, key="c", label="c", type=AttributeType.CHOICE)


def test_an_account_belongs_to_one_contact(tenant_a):
    org = tenant_a.organization
    with tenant_a.scope():
        first = contact_create(organization=org, actor=None, name="A")
        second = contact_create(organization=org, actor=None, name="B")
        identity = contact_identity_add(
            organization=org, actor=None, contact=first, platform="line", external_id="U1", handle="a"
        )
        assert contact_identity_add(organization=org, actor=None, contact=first, platform="line", external_id="U1") == (
            identity
        )
        with pytest.raises(Conflict):
            contact_identity_add(organization=org, actor=None, contact=second, platform="line", external_id="U1")
        with pytest.raises(DomainError):
            contact_identity_add(organization=org, actor=None, contact=second, platform="nowhere", external_id="U1")


def test_ingest_fills_the_address_number_and_last_seen(tenant_a):
    line, phone = connection(tenant_a, "line"), connection(tenant_a, "phone")
    with tenant_a.scope():
        message_ingest(
            organization=tenant_a.organization,
            connection=line,
            inbound=inbound("hi", author="U9", author_email="U9@Example.JP"),
        )
        message_ingest(
            organization=tenant_a.organization, connection=phone, inbound=inbound("call", author="+819012345678")
        )
        by_identity = {c.identities.get().external_id: c for c in Contact.objects.all()}
        assert by_identity["U9"].emails == ["u9@example.jp"] and by_identity["U9"].last_seen_at is not None
        assert by_identity["+819012345678"].phones == ["+819012345678"]


# --- concurrent ingestion of one new customer -----------------------------------------------------------------------


def _ingest_in_thread(tenant, conn, message, results, errors, *, hold: threading.Event | None = None, held=None):
    try:
        with tenant.scope(), transaction.atomic():
            msg, _created = message_ingest(organization=tenant.organization, connection=conn, inbound=message)
            results.append(msg.pk)
            if hold is not None:
                held.set()  # our contact and identity are written, not committed
                hold.wait(10)
    except Exception as exc:  # collected and asserted by the test
        errors.append(exc)
    finally:
        db_connection.close()


@pytest.mark.django_db(transaction=True)
def test_two_workers_ingesting_the_same_new_customer_make_one_contact(tenant_a):
    """Worker 1 has created the customer's contact and identity but not committed; worker 2, which looked the
    identity up before that commit, must end on worker 1's contact (the identity's unique key decides), not a second
    one."""
    line = connection(tenant_a, "line")
    results, errors = [], []
    release, held = threading.Event(), threading.Event()
    first = threading.Thread(
        target=_ingest_in_thread,
        args=(tenant_a, line, inbound("一通目", author="U-new", thread="t1"), results, errors),
        kwargs={"hold": release, "held": held},
    )
    first.start()
    assert held.wait(10)
    second = threading.Thread(
        target=_ingest_in_thread,
        args=(tenant_a, line, inbound("二通目", author="U-new", thread="t2"), results, errors),
    )
    second.start()
    time.sleep(0.5)  # worker 2 has read no identity and waits on worker 1's uncommitted one
    release.set()
    first.join()
    second.join()
    assert errors == []
    with tenant_a.scope():
        assert Contact.objects.count() == 1 and ContactIdentity.objects.count() == 1
        contact = Contact.objects.get()
        assert set(Message.objects.values_list("author_contact_id", flat=True)) == {contact.pk}
        assert {t.contact_id for t in contact.tickets.all()} == {contact.pk} and contact.tickets.count() == 2


@pytest.mark.django_db(transaction=True)
def test_many_workers_at_once_on_two_channels_make_one_contact(tenant_a):
    """The same LINE user writing to two LINE accounts of the organization, delivered by eight workers at once."""
    channels = [connection(tenant_a, "line"), connection(tenant_a, "line")]
    barrier = threading.Barrier(8)
    results, errors = [], []

    def deliver(n):
        barrier.wait()
        _ingest_in_thread(
            tenant_a, channels[n % 2], inbound(f"message {n}", author="U-burst", thread=f"t{n}"), results, errors
        )

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 8
    with tenant_a.scope():
        assert Contact.objects.count() == 1 and ContactIdentity.objects.count() == 1
        assert Message.objects.filter(author_contact=Contact.objects.get()).count() == 8
