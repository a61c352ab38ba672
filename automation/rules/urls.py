"""URLs of the rules settings pages (included by automation.org_urls)."""

from django.urls import path

from automation.rules import views

urlpatterns = [
    path("settings/rules/", views.rules_list, name="rules_list"),
    path("settings/rules/new/", views.rules_new, name="rules_new"),
    path("settings/rules/<int:rule_id>/", views.rules_edit, name="rules_edit"),
    path("settings/rules/<int:rule_id>/enabled/", views.rules_toggle, name="rules_toggle"),
    path("settings/rules/<int:rule_id>/move/", views.rules_move, name="rules_move"),
    path("settings/rules/<int:rule_id>/delete/", views.rules_delete, name="rules_delete"),
    path("settings/rules/webhooks/", views.rules_webhooks, name="rules_webhooks"),
    path("settings/rules/webhooks/secret/", views.rules_webhook_secret_rotate, name="rules_webhook_secret"),
    path("settings/automation/", views.rules_automation, name="rules_automation"),
]
