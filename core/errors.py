"""Expected failures: raised by services, shown to the user as a field error or a JSON error, never a 500."""


class DomainError(Exception):
    """A request the rules do not allow. `field` names the form/API field it belongs to, if any."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class NotAllowed(DomainError):
    code = "permission_denied"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409
