from tests.english import english, tenant_a, tenant_b  # noqa: F401 (fixtures: these tests read English sentences)
