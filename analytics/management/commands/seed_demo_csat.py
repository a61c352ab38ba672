"""Demo data for CSAT: surveys switched on in the demo organization and a few answered surveys (safe to repeat)."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django_scopes import scope

from accounts.models import Organization
from tickets.models import Survey, SurveyAnswer, SurveySettings, SurveyState, SurveyVia, Ticket
from tickets.services.surveys import new_token

ANSWERS = [
    (5, "とても丁寧に対応していただきました。ありがとうございました。"),
    (4, "返信が早くて助かりました。"),
    (5, ""),
    (3, "解決しましたが、少し時間がかかりました。"),
    (2, "何度も同じ説明をする必要がありました。"),
    (5, "Quick and friendly, thank you!"),
]


class Command(BaseCommand):
    help = "Switch CSAT surveys on in the demo organization and add a few answers."

    @transaction.atomic
    def handle(self, *args, **options):
        demo = Organization.objects.filter(slug="demo").first()
        if demo is None:
            self.stdout.write("no demo organization: run seed_demo")
            return
        with scope(organization=demo):
            SurveySettings.objects.get_or_create(organization=demo, defaults={"enabled": True})
            if SurveyAnswer.objects.exists():
                return
            tickets = list(Ticket.objects.filter(merged_into__isnull=True).order_by("pk")[: len(ANSWERS)])
            now = timezone.now()
            for index, (ticket, (rating, comment)) in enumerate(zip(tickets, ANSWERS, strict=False)):
                sent = now - timedelta(days=len(ANSWERS) - index, hours=3)
                _token, hashed = new_token()
                survey = Survey.objects.create(
                    organization=demo,
                    ticket=ticket,
                    solve_event_id=-(index + 1),  # demo surveys stand for solves the seed did not record
                    agent_id=ticket.assignee_id,
                    state=SurveyState.SENT,
                    via=SurveyVia.EMAIL,
                    token_hash=hashed,
                    sent_at=sent,
                    expires_at=sent + timedelta(days=30),
                )
                answer = SurveyAnswer.objects.create(
                    organization=demo,
                    survey=survey,
                    ticket=ticket,
                    agent_id=ticket.assignee_id,
                    rating=rating,
                    comment=comment,
                )
                SurveyAnswer.objects.filter(pk=answer.pk).update(created_at=sent + timedelta(hours=2))
        self.stdout.write(self.style.SUCCESS(f"CSAT demo: {len(tickets)} answers"))
