"""Every API error has one shape: {"error": {"code", "message", "fields"}}."""

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError

logger = logging.getLogger("tsunagu.api")


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(_flatten(item) for item in detail.values())
    return str(detail)


def exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else {}
        logger.info(
            "api domain error %s %s: %s", getattr(request, "method", ""), getattr(request, "path", ""), exc.code
        )
        return Response({"error": {"code": exc.code, "message": exc.message, "fields": fields}}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {
            key: [str(m) for m in (value if isinstance(value, list) else [value])] for key, value in detail.items()
        }
        body = {"code": "invalid", "message": _("The request contains invalid data."), "fields": fields}
        logger.info("api validation error %s %s: %s", request.method, request.path, list(fields))
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        body = {
            "code": code if isinstance(code, str) else "error",
            "message": _flatten(response.data.get("detail", response.data)),
            "fields": {},
        }
        if response.status_code >= status.HTTP_400_BAD_REQUEST:
            logger.info("api error %s %s: %s %s", request.method, request.path, response.status_code, body["code"])
    response.data = {"error": body}
    return response


@csrf_exempt  # like every API view (DRF's are exempt): it changes nothing, and a write must get this 404, not a 403
def api_not_found(request, *args, **kwargs):
    """Any /api/ path no route matches (an id that is not a number, a typo): the API's JSON 404, never Django's HTML
    page (which DEBUG would also turn into the technical one)."""
    message = str(exceptions.NotFound.default_detail)
    return JsonResponse({"error": {"code": "not_found", "message": message, "fields": {}}}, status=404)
