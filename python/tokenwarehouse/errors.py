"""One exception hierarchy for every warehouse failure.

A miss is never an exception: get/acquire/pin return None, get_async reports False per key.
Every other failure raises a subclass of TokenWarehouseError named after its status code; the
classes that mean "you passed something wrong" also derive from ValueError.
"""


class TokenWarehouseError(Exception):
    """Base class of every error raised by tokenwarehouse."""

    code = "unknown"


class NotFoundError(TokenWarehouseError, KeyError):
    code = "not_found"


class InvalidArgumentError(TokenWarehouseError, ValueError):
    code = "invalid_argument"


class ResourceExhaustedError(TokenWarehouseError):
    code = "resource_exhausted"


class UnavailableError(TokenWarehouseError):
    """Transient, or a capability this machine lacks (e.g. no GPU)."""

    code = "unavailable"


class DeadlineExceededError(TokenWarehouseError):
    code = "deadline_exceeded"


class IOError_(TokenWarehouseError, OSError):
    code = "io_error"


class CorruptionError(TokenWarehouseError):
    code = "corruption"


class PermissionDeniedError(TokenWarehouseError):
    code = "permission_denied"


class UnauthenticatedError(TokenWarehouseError):
    code = "unauthenticated"


class NotSupportedError(TokenWarehouseError, NotImplementedError):
    code = "not_supported"


class InternalError(TokenWarehouseError):
    code = "internal"


class FailedPreconditionError(TokenWarehouseError):
    """The store is not in the state the call needs: e.g. a namespace it does not know (never
    registered there, or forgotten by a daemon restart). Register it and retry."""
    code = "failed_precondition"


# Status codes (tw::StatusCode) -> classes; handed to the native module at import.
BY_CODE = {
    1: NotFoundError,
    2: InvalidArgumentError,
    3: ResourceExhaustedError,
    4: UnavailableError,
    5: DeadlineExceededError,
    6: IOError_,
    7: CorruptionError,
    8: PermissionDeniedError,
    9: UnauthenticatedError,
    10: NotSupportedError,
    11: InternalError,
    12: FailedPreconditionError,
}
