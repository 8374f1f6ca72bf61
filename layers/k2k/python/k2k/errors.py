"""Domain errors. Each maps to one HTTP status in k2k.api; nothing else decides statuses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    """The caller is known but its roles do not allow the action."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """Absent, or owned by another company: the two are never told apart."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    """A version or state precondition failed: someone else changed it first."""

    status = 409
    code = "conflict"


class TooLarge(DomainError):
    """The request body is larger than the API accepts; refused before it is parsed."""

    status = 413
    code = "too_large"


class Invalid(DomainError):
    """Input is well-formed but breaks a business rule; details name the fields."""

    status = 422
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        if details is None and field is not None:
            details = [{"field": field, "message": message}]
        super().__init__(message, details=details)
