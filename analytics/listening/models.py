"""Social listening: what an organization listens for (monitors), the public posts found (mentions), where each
connection's poller stands (sources), the Instagram hashtags it has queried (Meta's 30-per-7-days limit) and the
spike alerts raised."""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tickets.models import scoped


class MonitorKind(models.TextChoices):
    BRAND = "brand", _("Our brand")
    PRODUCT = "product", _("Our product")
    COMPETITOR = "competitor", _("Competitor")


class Sentiment(models.TextChoices):
    POSITIVE = "positive", pgettext_lazy("sentiment", "Positive")
    NEUTRAL = "neutral", pgettext_lazy("sentiment", "Neutral")
    NEGATIVE = "negative", pgettext_lazy("sentiment", "Negative")


class MentionSource(models.TextChoices):
    """Which platform call found the post."""

    HASHTAG = "hashtag", _("Instagram hashtag")
    TAGGED = "tagged", _("Tagged the account")


class Monitor(models.Model):
    """A set of terms the organization listens for on some platforms (none listed: every platform). A post
    matches when it contains one of `terms` and none of `excluded_terms` (see listening.matching)."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=MonitorKind.choices, default=MonitorKind.BRAND)
    terms = ArrayField(models.CharField(max_length=100), verbose_name=_("terms"), default=list)
    excluded_terms = ArrayField(
        models.CharField(max_length=100), verbose_name=_("excluded terms"), default=list, blank=True
    )
    platforms = ArrayField(models.CharField(max_length=32), verbose_name=_("platforms"), default=list, blank=True)
    active = models.BooleanField(_("active"), default=True, db_default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = scoped()

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="listening_monitor_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Mention(models.Model):
    """One public post found by the poller, stored once per organization and platform (the unique key is the
    de-duplication: a post found again — by another call, another connection, another poll — is the same row).
    `interactions` = likes + comments + shares; `reach` and `followers` only when the platform gives them."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    platform = models.CharField(max_length=32)
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection", on_delete=models.CASCADE, related_name="+"
    )
    external_id = models.CharField(max_length=128)
    source = models.CharField(max_length=16, choices=MentionSource.choices)
    author_handle = models.CharField(max_length=120, blank=True, default="")
    author_name = models.CharField(max_length=200, blank=True, default="")
    text = models.TextField(blank=True, default="")
    url = models.URLField(max_length=500, blank=True, default="")
    posted_at = models.DateTimeField()
    collected_at = models.DateTimeField(auto_now_add=True)
    language = models.CharField(max_length=8, blank=True, default="")
    sentiment = models.CharField(max_length=8, choices=Sentiment.choices, blank=True, default="")
    sentiment_score = models.FloatField(null=True)
    interactions = models.PositiveIntegerField(default=0, db_default=0)
    reach = models.PositiveIntegerField(null=True)
    followers = models.PositiveIntegerField(null=True)
    monitors = models.ManyToManyField(Monitor, through="MentionMatch", related_name="mentions")
    ticket = models.ForeignKey("tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = scoped()

    class Meta:
        ordering = ["-posted_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "platform", "external_id"], name="listening_mention_unique_post"
            ),
        ]
        indexes = [models.Index(fields=["organization", "-posted_at"], name="listening_mention_posted")]

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id}"


class MentionMatch(models.Model):
    """A mention matched a monitor. `posted_at` is the mention's, copied so share of voice and spikes count per
    monitor and period from this table alone."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="matches")
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="matches")
    posted_at = models.DateTimeField()
    negative = models.BooleanField(default=False, db_default=False)

    objects = scoped()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mention", "monitor"], name="listening_match_unique"),
        ]
        indexes = [models.Index(fields=["monitor", "posted_at"], name="listening_match_monitor_time")]

    def __str__(self) -> str:
        return f"{self.mention_id} → {self.monitor_id}"


class ListeningSource(models.Model):
    """Where the listening poller of one connection stands: its cursor (per call: the newest post seen, a paging
    cursor), when to poll next (interval, the platform's Retry-After) and the last error. The row is locked for a
    poll, and the cursor saved in the same transaction as the mentions it covers."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    connection = models.OneToOneField(
        "channels_integrations.ChannelConnection", on_delete=models.CASCADE, related_name="+"
    )
    cursor = models.JSONField(default=dict, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    failures = models.PositiveIntegerField(default=0, db_default=0)  # failed polls in a row (core.retry's attempts)

    objects = scoped()

    def __str__(self) -> str:
        return f"listening on {self.connection_id}"


class HashtagQuery(models.Model):
    """An Instagram hashtag an account has queried. Meta allows 30 unique hashtags per account within a rolling 7
    days (a hashtag counts from its first query; querying it again neither counts nor restarts its 7 days): the
    poller asks for a new one only while fewer than 30 were first queried within the last 7 days."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "channels_integrations.ChannelConnection", on_delete=models.CASCADE, related_name="+"
    )
    hashtag = models.CharField(max_length=100)
    hashtag_id = models.CharField(max_length=64, blank=True, default="")
    first_queried_at = models.DateTimeField()

    objects = scoped()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "hashtag"], name="listening_hashtag_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.hashtag}"


class SpikeKind(models.TextChoices):
    VOLUME = "volume", _("Mention volume")
    NEGATIVE = "negative", _("Negative mentions")


class SpikeAlert(models.Model):
    """A monitor's last hour was above its baseline (listening.spikes): one per monitor, kind and hour."""

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="spikes")
    kind = models.CharField(max_length=16, choices=SpikeKind.choices)
    window_start = models.DateTimeField()
    value = models.FloatField()
    baseline_mean = models.FloatField()
    baseline_std = models.FloatField()
    threshold = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = scoped()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["monitor", "kind", "window_start"], name="listening_spike_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} spike of {self.monitor_id} at {self.window_start:%Y-%m-%d %H:%M}"
