# The asset library's tests read the product's sentences (refusals, limits, page labels) in English.
from tests.english import english, tenant_a, tenant_b  # noqa: F401
