"""Who may use, upload, approve and delete assets: by role, then by collection.

* An asset outside any collection, or in a collection without grants (its own or, failing that, its nearest
  ancestor's): everyone in the organization may **use** it; the role's capabilities decide the rest (`assets.manage`:
  upload, edit and delete; `assets.approve`: approve).
* A collection with grants is **restricted**: a member has there exactly the rights granted to their role or to one
  of their teams (a grant with any right includes use). A grant can give a support team upload rights in its own
  collection of reply templates without making its agents library editors.
* Organization admins (`org.manage`) have every right everywhere, so a restriction can always be undone.
* Members who may only *use* see only what they can use: not archived, approved where approval is required, not
  expired, with a version (`assets.selectors.assets_visible`).

`AssetAccess.for_member` reads the member's role, teams, collections and grants in three queries, once per request.
"""

from dataclasses import dataclass, field

from django.db.models import Q

from accounts.models import Membership, Organization, Team
from accounts.roles import Capability
from assets.models import Collection, CollectionGrant


@dataclass(frozen=True)
class Rights:
    use: bool = False
    upload: bool = False
    approve: bool = False
    delete: bool = False

    @property
    def manage(self) -> bool:
        """Sees drafts, archived and expired assets there (may act on them)."""
        return self.upload or self.approve or self.delete


NONE = Rights()
ALL = Rights(True, True, True, True)


@dataclass
class AssetAccess:
    """One member's rights in every collection of one organization."""

    unrestricted: Rights
    admin: bool = False
    by_collection: dict[int, Rights] = field(default_factory=dict)

    @classmethod
    def for_member(cls, membership: Membership | None) -> "AssetAccess":
        if membership is None:
            return cls(unrestricted=NONE)
        capabilities = set(membership.role.capabilities)
        if Capability.ORG_MANAGE in capabilities:
            return cls(unrestricted=ALL, admin=True)
        unrestricted = Rights(
            use=True,
            upload=Capability.ASSETS_MANAGE in capabilities,
            approve=Capability.ASSETS_APPROVE in capabilities,
            delete=Capability.ASSETS_MANAGE in capabilities,
        )
        organization_id = membership.organization_id
        team_ids = set(
            Team.objects.filter(organization_id=organization_id, group__user=membership.user_id).values_list(
                "id", flat=True
            )
        )
        parents = dict(Collection.objects.filter(organization_id=organization_id).values_list("id", "parent_id"))
        grants: dict[int, list[CollectionGrant]] = {}
        for grant in CollectionGrant.objects.filter(organization_id=organization_id):
            grants.setdefault(grant.collection_id, []).append(grant)
        role_key = membership.role.key
        by_collection: dict[int, Rights] = {}
        for collection_id in parents:
            # The nearest collection up the tree that has grants decides; none: unrestricted.
            current, seen = collection_id, set()
            while current is not None and current not in grants and current not in seen:
                seen.add(current)
                current = parents.get(current)
            if current is None or current not in grants:
                by_collection[collection_id] = unrestricted
                continue
            mine = [g for g in grants[current] if (g.role_key and g.role_key == role_key) or g.team_id in team_ids]
            by_collection[collection_id] = Rights(
                use=any(g.can_use or g.can_upload or g.can_approve or g.can_delete for g in mine),
                upload=any(g.can_upload for g in mine),
                approve=any(g.can_approve for g in mine),
                delete=any(g.can_delete for g in mine),
            )
        return cls(unrestricted=unrestricted, by_collection=by_collection)

    @classmethod
    def for_user(cls, organization: Organization, user) -> "AssetAccess":
        if user is None or not getattr(user, "is_authenticated", False):
            return cls(unrestricted=NONE)
        membership = Membership.objects.filter(organization=organization, user=user).select_related("role").first()
        return cls.for_member(membership)

    def rights(self, collection_id: int | None) -> Rights:
        if self.admin:
            return ALL
        if collection_id is None:
            return self.unrestricted
        return self.by_collection.get(collection_id, NONE)

    @property
    def may_upload_somewhere(self) -> bool:
        return self.admin or self.unrestricted.upload or any(r.upload for r in self.by_collection.values())

    def collection_ids(self, right: str) -> list[int]:
        """Collections where the member has `right` (use, upload, approve, delete or manage)."""
        return [cid for cid, rights in self.by_collection.items() if self.admin or getattr(rights, right)]

    def collection_filter(self, right: str, prefix: str = "collection") -> Q:
        """A filter of rows in a collection (or none) where the member has `right`."""
        if self.admin:
            return Q()
        condition = Q(**{f"{prefix}__in": self.collection_ids(right)})
        if getattr(self.unrestricted, right):
            condition |= Q(**{f"{prefix}__isnull": True})
        return condition
