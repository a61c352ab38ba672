"""Public pages a customer opens from a survey link (no organization prefix, no login)."""

urlpatterns = []
