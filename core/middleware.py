"""Product pages where Django's development tools would answer instead."""

from django.conf import settings
from django.shortcuts import render

# Answers of these never become the product's page: the API's JSON errors, platforms' webhooks, files.
_MACHINE_PREFIXES = ("/api/", "/webhooks/", "/static/", "/media/", "/healthz", "/readyz")


class NotFoundPageMiddleware:
    """With DEBUG on, Django answers a missing page with its technical 404, which lists every URL pattern of the
    app. Developers keep the debug page for errors; a 404 shows the product's own page, as it does in production."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(_MACHINE_PREFIXES)
        ):
            return render(request, "404.html", status=404)
        return response
