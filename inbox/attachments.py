"""Stored attachments, served to members who may see their ticket (a 404 for everyone else, as for a missing one).
The bytes go out through core.files.serve_file: the one file-serving path, with its offload and safe headers."""

from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from core.files import serve_file
from tickets import selectors
from tickets.models import Attachment


@require_GET
def attachment(request, org_slug, attachment_id):
    found = get_object_or_404(
        Attachment.objects.filter(message__ticket__in=selectors.visible_tickets(request.membership)).exclude(file=""),
        pk=attachment_id,
    )
    return serve_file(request, found.file, filename=found.filename, content_type=found.content_type)
