"""Fixtures for tests that read the product's sentences in English (platform rules, errors, form messages): the
organizations speak English, and so does the test process (tasks run eagerly in it). Japanese is the default; the
translations themselves are checked by tests/test_translations.py. Import them into a package's conftest.py."""

import pytest
from django.utils import translation

from accounts.models import Organization


def in_english(tenant):
    Organization.objects.filter(pk=tenant.organization.pk).update(default_language="en")
    tenant.organization.default_language = "en"
    return tenant


@pytest.fixture(autouse=True)
def english(settings):
    # Requests without a member (webhooks) fall back to LANGUAGE_CODE and leave it active in the thread.
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def tenant_a(tenant_a):
    return in_english(tenant_a)


@pytest.fixture
def tenant_b(tenant_b):
    return in_english(tenant_b)
