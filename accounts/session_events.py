"""When a user's sessions may have ended — they signed out, their password changed (Django then refuses every other
session of theirs) or their account was deactivated — their open sockets are told to check the session that opened
each (core.realtime.sessions_check); those whose session is no longer valid close within a second."""

from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import pre_save
from django.dispatch import receiver

from accounts.models import User
from core.realtime import sessions_check


@receiver(user_logged_out, dispatch_uid="accounts.sockets_on_sign_out")
def _signed_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        sessions_check(user.pk)


@receiver(pre_save, sender=User, dispatch_uid="accounts.sockets_on_password_change")
def _password_or_activity_changed(sender, instance: User, update_fields=None, **kwargs) -> None:
    if instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        return  # a new user, or a save that cannot change either (last_login on every sign-in)
    before = User.objects.filter(pk=instance.pk).values_list("password", "is_active").first()
    if before is not None and (before[0] != instance.password or (before[1] and not instance.is_active)):
        sessions_check(instance.pk)
