"""Public pages a customer opens from a survey link (no organization prefix, no login)."""

from django.urls import path

from analytics.csat import public_views

urlpatterns = [
    path("<str:token>/", public_views.survey_page, name="csat_survey"),
    path("<str:token>/thanks/", public_views.survey_thanks, name="csat_survey_thanks"),
]
