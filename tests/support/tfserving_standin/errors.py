"""TF Serving's status codes as the stand-in reports them.

`ServingError` is a tensorflow.error.Code name with a message, the way TF Serving's C++
``Status`` travels from a handler to the REST response; ``CODES`` is the enum the status JSON
spells the codes with ("OK", "DATA_LOSS", ...) and ``ServingError.http_status`` is the HTTP
status TF Serving's http_server.cc gives each code. Every other module of the stand-in raises
these; this one imports nothing else of the package.
"""

from __future__ import annotations

from tensorflow_serving.apis import get_model_status_pb2

# tensorflow.error.Code, as the status JSON spells it ("OK", "DATA_LOSS", ...).
CODES = (
    get_model_status_pb2.ModelVersionStatus.DESCRIPTOR.fields_by_name["status"]
    .message_type.fields_by_name["error_code"]
    .enum_type
)

# http_server.cc ToHTTPStatusCode.
_HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A TF Serving status: a tensorflow.error.Code name and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.code, 500)


def code_name(number: int) -> str:
    value = CODES.values_by_number.get(number)
    return value.name if value is not None else "UNKNOWN"


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
