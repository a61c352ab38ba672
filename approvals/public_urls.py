"""Public links without an organization prefix or a session: the media files platforms fetch while publishing a post
(approvals.media_links)."""

from django.urls import path

from approvals import media_links

urlpatterns = [
    path("<str:token>/<str:filename>", media_links.published_media, name="published-media"),
]
