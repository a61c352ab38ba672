import pytest


def test_healthz_answers_without_touching_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_redis_and_broker(client):
    body = client.get("/readyz").json()
    assert body == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_unreachable(client, settings):
    from socket import socket

    from config.celery import app

    with socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}}
    original = app.conf.broker_url
    app.conf.broker_url = dead
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error") and body["checks"]["broker"].startswith("error")


def test_openapi_schema_and_docs_page(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/orgs/{org_slug}/members/" in text and "ApiToken" in text
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.content.decode()


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get("/accounts/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.cookies["csrftoken"]["samesite"] == "Lax"


@pytest.mark.django_db
def test_a_missing_page_is_the_product_s_page_even_in_development(client, settings):
    settings.DEBUG = True
    response = client.get("/no-such-page/at-all/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "Using the URLconf" not in body and "webhooks/" not in body  # Django's technical page lists every URL
    assert 'href="/"' in body
    api = client.get("/api/v1/orgs/no-such-org/tickets/")
    assert api.status_code in {401, 403, 404} and "Using the URLconf" not in api.content.decode()
