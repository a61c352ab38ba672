"""Finding one customer behind two contacts.

Exact matches — the same email address or phone number in normal form (lower-cased address, E.164 number) — are
merged automatically when the organization enables it (ContactSettings.auto_merge_exact; each merge can be undone),
otherwise suggested. Probable duplicates — the same name once normalized (NFKC, case, spaces, word order, hiragana
and katakana, a name written in kana against the other's reading, honorifics) plus one more signal (the same
company, the same email domain other than a public mail service, the same handle or the same picture) — are only
ever suggested to agents (ContactDuplicateSuggestion), never merged silently. A dismissed pair is not suggested
again.

Runs in a task after the ingest or an edit commits (tickets.tasks_contacts.match_contacts)."""

import logging
import re
import unicodedata

from django.db import transaction
from django.db.models import IntegerField, Q, QuerySet, Value
from django.utils import timezone

from accounts.models import Organization
from tickets.models import Contact, ContactDuplicateSuggestion, ContactIdentity, SuggestionStatus
from tickets.search import filter_matching
from tickets.services import contact_merge, contacts  # modules: contacts imports the task that imports this one

logger = logging.getLogger("tsunagu.tickets")

# Domains anyone can have an address at: sharing one says nothing about being the same person.
PUBLIC_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.co.jp",
        "yahoo.com",
        "ymail.ne.jp",
        "icloud.com",
        "me.com",
        "mac.com",
        "outlook.com",
        "outlook.jp",
        "hotmail.com",
        "hotmail.co.jp",
        "live.jp",
        "live.com",
        "msn.com",
        "docomo.ne.jp",
        "ezweb.ne.jp",
        "au.com",
        "softbank.ne.jp",
        "i.softbank.jp",
        "ybb.ne.jp",
        "nifty.com",
        "biglobe.ne.jp",
        "ocn.ne.jp",
        "so-net.ne.jp",
        "aol.com",
        "protonmail.com",
        "proton.me",
        "example.com",
    }
)
CANDIDATES = 50  # contacts looked at per name: a common name must not make matching slow
_HONORIFICS = re.compile(r"(様|さま|サマ|さん|サン|殿|御中|氏)$")
_HIRAGANA = re.compile("[\u3041-\u3096\u309d\u309e]")
_PUNCTUATION = re.compile(r"[\s\u30fb・.,·'’\-_()（）「」]+")


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").casefold().strip()
    text = _HONORIFICS.sub("", text).strip()
    return _HIRAGANA.sub(lambda match: chr(ord(match.group()) + 0x60), text)  # hiragana → katakana


def name_keys(name: str, reading: str = "") -> set[str]:
    """The forms under which two names count as the same: 山田 花子 = 山田花子 = 山田花子様; やまだ はなこ = the
    reading ヤマダ ハナコ; Hanako Yamada = YAMADA hanako. Names shorter than two characters give none."""
    keys = set()
    for text in (name, reading):
        plain = _plain(text)
        words = [w for w in _PUNCTUATION.split(plain) if w]
        compact = "".join(words)
        if len(compact) < 2:
            continue
        keys.add(compact)
        keys.add("".join(sorted(words)))
    return keys


def _handles(contact_ids: list[int]) -> dict[int, set[str]]:
    handles: dict[int, set[str]] = {}
    for contact_id, handle in ContactIdentity.objects.filter(contact_id__in=contact_ids).values_list(
        "contact_id", "handle"
    ):
        handle = unicodedata.normalize("NFKC", handle or "").casefold().lstrip("@").strip()
        if len(handle) >= 3:
            handles.setdefault(contact_id, set()).add(handle)
    return handles


def _domains(contact: Contact) -> set[str]:
    return {e.rsplit("@", 1)[1] for e in contact.emails if "@" in e} - PUBLIC_MAIL


def other_signals(contact: Contact, other: Contact, handles: dict[int, set[str]]) -> list[str]:
    """What besides the name the two contacts have in common."""
    signals = []
    company = _plain(contact.company)
    if company and company == _plain(other.company):
        signals.append("company")
    if _domains(contact) & _domains(other):
        signals.append("email_domain")
    if handles.get(contact.pk, set()) & handles.get(other.pk, set()):
        signals.append("handle")
    if contact.avatar_url and contact.avatar_url == other.avatar_url:
        signals.append("avatar")
    return signals


def suggestion_record(
    *, organization: Organization, contact: Contact, other: Contact, reasons: list[str], score: float
) -> ContactDuplicateSuggestion | None:
    """Suggest one pair: see suggestions_record. Returns the open suggestion, or None when the pair was already
    decided."""
    open_ = suggestions_record(organization=organization, contact=contact, found=[(other, reasons, score)])
    return open_.get(other.pk)


def suggestions_record(
    *, organization: Organization, contact: Contact, found: list[tuple[Contact, list[str], float]]
) -> dict[int, ContactDuplicateSuggestion]:
    """Suggest each pair of `contact` with another contact found, (other, reasons, score), once: a pair already
    suggested keeps its status and gains the new reasons and a higher score; a dismissed one stays dismissed.

    Two statements whatever the number of pairs (a common name can find dozens): one INSERT that skips the pairs
    already stored (the unique pair decides, also against another worker at the same moment), one read of them all.
    Returns the open suggestions by the other contact's id."""
    wanted: dict[int, tuple[list[str], float]] = {}
    for other, reasons, score in found:
        wanted[other.pk] = (reasons, score)
    if not wanted:
        return {}
    ContactDuplicateSuggestion.objects.bulk_create(
        [
            ContactDuplicateSuggestion(
                organization=organization,
                contact_id=min(contact.pk, other_id),
                other_id=max(contact.pk, other_id),
                reasons=reasons,
                score=score,
            )
            for other_id, (reasons, score) in wanted.items()
        ],
        ignore_conflicts=True,
    )
    stored = ContactDuplicateSuggestion.objects.filter(
        Q(contact_id=contact.pk, other_id__in=list(wanted)) | Q(other_id=contact.pk, contact_id__in=list(wanted))
    )
    suggestions: dict[int, ContactDuplicateSuggestion] = {}
    for suggestion in stored:
        if suggestion.status != SuggestionStatus.OPEN:
            continue
        other_id = suggestion.other_id if suggestion.contact_id == contact.pk else suggestion.contact_id
        reasons, score = wanted[other_id]
        if score > suggestion.score or set(reasons) - set(suggestion.reasons):  # suggested before, for less
            suggestion.reasons = sorted(set(suggestion.reasons) | set(reasons))
            suggestion.score = max(score, suggestion.score)
            suggestion.save(update_fields=["reasons", "score"])
        suggestions[other_id] = suggestion
    return suggestions


def _exact_candidates(contact: Contact):
    """The contacts sharing an address or a number with `contact` (oldest first, at most CANDIDATES), unread; None
    when it has neither."""
    if not (contact.emails or contact.phones):
        return None
    condition = Q()
    if contact.emails:
        condition |= Q(emails__overlap=contact.emails)
    if contact.phones:
        condition |= Q(phones__overlap=contact.phones)
    return (
        Contact.objects.filter(condition, merged_into__isnull=True)
        .exclude(pk=contact.pk)
        .defer("search_vector")
        .order_by("pk")[:CANDIDATES]
    )


def _name_candidates(contact: Contact) -> list:
    """One unread query per name text of `contact` (its name, its reading): the newest CANDIDATES contacts whose
    words match it."""
    others = Contact.objects.filter(merged_into__isnull=True).exclude(pk=contact.pk).defer("search_vector")
    queries = []
    for text in {contact.name, contact.reading} - {""}:
        query = " ".join(w for w in _PUNCTUATION.split(_HONORIFICS.sub("", text.strip())) if w)
        if query:
            found = filter_matching(others, query)
            if found.query.is_empty():
                continue
            queries.append(found.order_by("-pk")[:CANDIDATES])
    return queries


def _same_name(contact: Contact, found: dict[int, Contact]) -> list[Contact]:
    keys = name_keys(contact.name, contact.reading)
    if not keys:
        return []
    return [other for other in found.values() if keys & name_keys(other.name, other.reading)]


def _pairs(contact: Contact, same_name: list[Contact], handles: dict[int, set[str]]) -> list[tuple[Contact, list]]:
    pairs = []
    for other in same_name:
        signals = other_signals(contact, other, handles)
        if signals:
            pairs.append((other, ["name", *signals]))
    return pairs


def _probable(contact: Contact) -> list[tuple[Contact, list[str]]]:
    if not name_keys(contact.name, contact.reading):
        return []
    found: dict[int, Contact] = {}
    for candidates in _name_candidates(contact):
        for other in candidates:
            found[other.pk] = other
    same_name = _same_name(contact, found)
    if not same_name:
        return []
    return _pairs(contact, same_name, _handles([contact.pk, *(o.pk for o in same_name)]))


def _read_together(querysets: list[tuple[object, QuerySet]]) -> dict[object, list[Contact]]:
    """Each (key, sliced queryset of contacts) read in one statement (UNION ALL of the slices, each keeping its own
    ORDER BY and LIMIT): {key: its rows, in its own order}."""
    if not querysets:
        return {}
    parts = [qs.annotate(_part=Value(n, output_field=IntegerField())) for n, (_key, qs) in enumerate(querysets)]
    rows: dict[int, list[Contact]] = {}
    combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    for contact in combined:
        rows.setdefault(contact._part, []).append(contact)
    read: dict[object, list[Contact]] = {}
    for n, (key, qs) in enumerate(querysets):
        ordered = rows.get(n, [])
        # The union returns the slices' rows in no guaranteed order: each slice's own order again.
        descending = qs.query.order_by[0].startswith("-")
        ordered.sort(key=lambda c: c.pk, reverse=descending)
        read[key] = ordered
    return read


def contacts_match(*, organization: Organization, contact_ids: list[int]) -> dict[int, list[tuple[str, int]]]:
    """Match each contact against the others, as `contact_match` one after the other would ({contact id: its
    results}), with one set of reads for all of them: the contacts, the settings, every contact's candidates in one
    statement and their handles in one more. Only a suggestion found costs statements of its own. An automatic merge
    changes what the following contacts would find: when one is possible, they are matched one by one."""
    ids = list(dict.fromkeys(contact_ids))
    standing = {c.pk: c for c in Contact.objects.filter(pk__in=ids, merged_into__isnull=True)}
    if not standing:
        return {contact_id: [] for contact_id in ids}
    settings = contacts.contact_settings(organization)
    queries: list[tuple[object, QuerySet]] = []
    texts: dict[int, int] = {}  # contact id → how many name queries it has
    for contact in standing.values():
        exact = _exact_candidates(contact)
        if exact is not None:
            queries.append((("exact", contact.pk), exact))
        names = _name_candidates(contact) if name_keys(contact.name, contact.reading) else []
        texts[contact.pk] = len(names)
        queries += [((contact.pk, n), qs) for n, qs in enumerate(names)]
    read = _read_together(queries)
    if settings.auto_merge_exact and any(read.get(("exact", pk)) for pk in standing):
        return {contact_id: contact_match(organization=organization, contact_id=contact_id) for contact_id in ids}
    same_names: dict[int, list[Contact]] = {}
    for contact in standing.values():
        found: dict[int, Contact] = {}
        for n in range(texts[contact.pk]):  # in the order one contact's matching reads them
            for other in read[(contact.pk, n)]:
                found[other.pk] = other
        same_names[contact.pk] = _same_name(contact, found)
    wanted = {pk for pk, same in same_names.items() if same} | {o.pk for same in same_names.values() for o in same}
    handles = _handles(sorted(wanted)) if wanted else {}
    results = {}
    for contact_id in ids:
        contact = standing.get(contact_id)
        results[contact_id] = (
            []
            if contact is None
            else _suggest(
                organization,
                contact,
                read.get(("exact", contact_id), []),
                _pairs(contact, same_names[contact_id], handles),
                merging=False,
            )
        )
    return results


def contact_match(*, organization: Organization, contact_id: int) -> list[tuple[str, int]]:
    """Match one contact against the others: [("merged" | "suggested", other contact id), …]. Idempotent."""
    contact = Contact.objects.filter(pk=contact_id, merged_into__isnull=True).first()
    if contact is None:
        return []
    settings = contacts.contact_settings(organization)
    exact = _exact_candidates(contact)
    return _suggest(
        organization,
        contact,
        list(exact) if exact is not None else [],
        None,
        merging=settings.auto_merge_exact,
    )


def _suggest(organization, contact: Contact, exact: list[Contact], probable, *, merging: bool):
    """Merge (`merging`) or suggest the exact matches, then suggest the probable duplicates (`probable`: the pairs
    already found, or None to find them now). The suggestions are written together (`suggestions_record`)."""
    results: list[tuple[str, int]] = []
    found: list[tuple[Contact, list[str], float]] = []  # pairs to suggest: (other, reasons, score)
    if exact:
        for other in exact:
            reasons = []
            if set(contact.emails) & set(other.emails):
                reasons.append("email")
            if set(contact.phones) & set(other.phones):
                reasons.append("phone")
            if merging:
                # The older contact survives: it usually carries the longer history.
                survivor, merged = (contact, other) if contact.pk < other.pk else (other, contact)
                try:
                    contact_merge.contact_merge(
                        organization=organization,
                        actor=None,
                        survivor=survivor,
                        merged=merged,
                        automatic=True,
                        reason=", ".join(reasons),
                    )
                except contact_merge.MergeRefused as exc:  # merged meanwhile by someone else
                    logger.info("automatic merge of %s into %s skipped: %s", merged.pk, survivor.pk, exc)
                    continue
                results.append(("merged", other.pk))
                if merged.pk == contact.pk:
                    return results  # this contact is now part of the older one, which was matched before
                contact.refresh_from_db()
            else:
                found.append((other, reasons, 1.0))
    exact_ids = {other_id for _what, other_id in results} | {other.pk for other, _reasons, _score in found}
    for other, reasons in _probable(contact) if probable is None else probable:
        if other.pk not in exact_ids:
            found.append((other, reasons, round(0.5 + 0.1 * (len(reasons) - 1), 2)))
    suggested = suggestions_record(organization=organization, contact=contact, found=found)
    results.extend(("suggested", other.pk) for other, _reasons, _score in found if other.pk in suggested)
    if results:
        logger.info("contact %s matched at %s: %s", contact.pk, timezone.now().isoformat(), results)
    return results


@transaction.atomic
def suggestion_dismiss(*, organization: Organization, actor, suggestion: ContactDuplicateSuggestion):
    """Not the same person: the pair is not suggested again."""
    suggestion = ContactDuplicateSuggestion.objects.select_for_update().get(pk=suggestion.pk)
    if suggestion.status == SuggestionStatus.OPEN:
        suggestion.status = SuggestionStatus.DISMISSED
        suggestion.decided_at = timezone.now()
        suggestion.decided_by = actor if getattr(actor, "pk", None) else None
        suggestion.save(update_fields=["status", "decided_at", "decided_by"])
    return suggestion


def suggestions_open():
    """Open suggestions whose two contacts both still stand (a suggestion about a contact merged elsewhere waits,
    and comes back if that merge is undone), best first."""
    return (
        ContactDuplicateSuggestion.objects.filter(
            status=SuggestionStatus.OPEN, contact__merged_into__isnull=True, other__merged_into__isnull=True
        )
        .select_related("contact", "other")
        .order_by("-score", "-id")
    )
