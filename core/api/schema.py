"""The error responses every API operation can give, documented once for the whole schema (a drf-spectacular
postprocessing hook): each is the `{"error": {"code", "message", "fields"}}` envelope of core.api.errors."""

from django.utils.translation import gettext_lazy as _

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "Messages per request field (empty unless the error concerns fields).",
                },
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}
WRITES = {"post", "put", "patch", "delete"}
PAGINATION_PARAMETERS = {"cursor", "page_size"}


def _error_responses(method: str, path: str, operation: dict) -> dict[str, str]:
    """Status code -> description of the errors this operation can answer with."""
    codes = {
        "401": _("No valid credentials (a missing, unknown or revoked token)."),
        "403": _("The member's role lacks the permission this operation needs."),
    }
    query = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    if method in WRITES or query - PAGINATION_PARAMETERS:
        codes["400"] = _("Invalid input: `fields` names each invalid field.")
    if "{org_slug}" in path:
        # TenantMiddleware answers a missing organization and a non-member alike; an unknown id or cursor too.
        codes["404"] = _("No such organization (or not a member), object or page.")
    if method in WRITES:
        codes["409"] = _("Conflicts with the current state: a name in use, the last owner, an object something uses.")
    return codes


def document_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, methods in result.get("paths", {}).items():
        for method, operation in methods.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, description in _error_responses(method, path, operation).items():
                operation["responses"].setdefault(
                    code, {"description": str(description), "content": {"application/json": {"schema": reference}}}
                )
    return result
