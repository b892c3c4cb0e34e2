"""Who is calling: a person with a role in a jurisdiction, or a dashboard key; and what they may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID

from domain.errors import Forbidden


class Role(StrEnum):
    admin = "admin"
    commander = "commander"
    officer = "officer"
    viewer = "viewer"


class UnitType(StrEnum):
    """What kind of responder a user is; it sets the speed used for ETAs and the usual tier."""

    guard = "guard"
    auxiliary = "auxiliary"
    police = "police"
    volunteer = "volunteer"


@dataclass(frozen=True)
class Caller:
    """The authenticated caller. `scope_path` is the ltree path of its jurisdiction: it sees that subtree."""

    kind: str  # "user" | "api_key" | "system"
    id: UUID | None
    name: str
    role: Role
    jurisdiction_code: str
    scope_path: str
    unit_type: str = "police"
    request_id: str | None = None
    token_jti: UUID | None = field(default=None, compare=False)
    token_exp: int | None = field(default=None, compare=False)
    session_id: UUID | None = field(default=None, compare=False)

    def for_request(self, request_id: str | None) -> Caller:
        """The same caller, tagged with the request it acts in (for the audit log); cheaper than `replace`."""
        return Caller(self.kind, self.id, self.name, self.role, self.jurisdiction_code, self.scope_path,
                      self.unit_type, request_id, self.token_jti, self.token_exp, self.session_id)

    @property
    def user_id(self) -> UUID | None:
        return self.id if self.kind == "user" else None

    def require(self, *roles: Role) -> None:
        """Refuse the call unless the caller has one of `roles` (admins may do everything)."""
        if self.role is Role.admin or self.role in roles:
            return
        raise Forbidden(f"role {self.role.value} may not do this; needs {' or '.join(r.value for r in roles)}")

    def sees_path(self, path: str) -> bool:
        """True when `path` is the caller's jurisdiction or lies below it (the empty scope sees all)."""
        return self.scope_path == "" or path == self.scope_path or path.startswith(self.scope_path + ".")


def system_caller(jurisdiction_code: str = "", scope_path: str = "", *, name: str = "cli") -> Caller:
    """The caller used by CLI commands and demo data: an admin at the given jurisdiction, or everywhere
    (the empty ltree path is the ancestor of every jurisdiction)."""
    return Caller(kind="system", id=None, name=name, role=Role.admin, jurisdiction_code=jurisdiction_code,
                  scope_path=scope_path)
