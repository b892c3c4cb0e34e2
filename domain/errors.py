"""Domain errors, raised by the rules and mapped to problem+json once, in `api/problems.py`."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the rules raise on purpose."""

    title = "Domain error"

    def __init__(self, detail: str, *, field: str | None = None, errors: list[dict] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.errors = errors or ([{"field": field, "message": detail}] if field else [])


class NotFound(DomainError):
    """The record does not exist, or lies outside the caller's jurisdictions (the two look the same)."""

    title = "Not found"


class Conflict(DomainError):
    """The request clashes with the current state (an id reused with another body, a bad transition)."""

    title = "Conflict"


class InvalidInput(DomainError):
    """The input is well-formed but breaks a rule (coordinates out of range, an unknown code)."""

    title = "Invalid input"


class UnsupportedMedia(DomainError):
    """The body is not of a kind this endpoint takes (e.g. an upload that is not an image)."""

    title = "Unsupported media type"


class TooLarge(DomainError):
    """The body is larger than this endpoint takes."""

    title = "Payload too large"


class NotAcceptable(DomainError):
    """The answer cannot be given in the format asked for on this server (e.g. PDF without its libraries)."""

    title = "Not acceptable"


class Forbidden(DomainError):
    """The caller is known but its role may not do this."""

    title = "Forbidden"


class Unauthorized(DomainError):
    """No valid credentials."""

    title = "Unauthorized"


class TooManyRequests(DomainError):
    """Too many attempts; retry after `retry_after_s`."""

    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: int):
        super().__init__(detail)
        self.retry_after_s = retry_after_s
