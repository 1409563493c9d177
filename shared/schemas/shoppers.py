"""Request bodies of the shopper account routes (API.md §10).

Shapes only: whether a username and password belong together is the service's business. A
malformed body (a field missing or not a string) is a 400 naming the field; a well-formed but
wrong login is the service's one 401.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from shared.schemas.customer import CustomerValidationError, email_field, flatten_errors

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
OTP_CHANNELS = ("sms", "email")
OTP_LENGTH = 6

_USERNAME = {"validate": validate.Length(min=1, max=255)}
# Anything up to this is hashed and simply fails; more is not a password anyone chose.
_PRESENTED_PASSWORD = {"validate": validate.Length(min=1, max=1024)}
_NEW_PASSWORD = {"validate": validate.Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)}


class _Body(Schema):
    class Meta:
        unknown = EXCLUDE


class RegisterSchema(_Body):
    username = email_field(required=True, metadata={"description": "The shopper's email."})
    password = fields.String(
        required=True,
        **_NEW_PASSWORD,
        metadata={"description": "Not the username (any case, trimmed)."},
    )
    customer = fields.Dict(
        load_default=None,
        allow_none=True,
        metadata={"description": "Optional v2 customer fields (retailer-owned ones ignored)."},
    )


class LoginSchema(_Body):
    username = fields.String(required=True, **_USERNAME)
    password = fields.String(required=True, **_PRESENTED_PASSWORD)


class OtpRequestSchema(_Body):
    username = fields.String(
        required=True, **_USERNAME, metadata={"description": "Email, or a mobile number."}
    )
    channel = fields.String(required=True, validate=validate.OneOf(OTP_CHANNELS))


class OtpLoginSchema(_Body):
    username = fields.String(required=True, **_USERNAME)
    otp = fields.String(required=True, validate=validate.Length(min=1, max=16))


class PasswordChangeSchema(_Body):
    password = fields.String(required=True, **_PRESENTED_PASSWORD)
    newPassword = fields.String(required=True, **_NEW_PASSWORD)


class AdminPasswordSchema(_Body):
    newPassword = fields.String(required=True, **_NEW_PASSWORD)


def load_body(schema: Schema, data: object) -> dict[str, Any]:
    """`data` loaded by `schema`; CustomerValidationError naming every invalid field."""
    if not isinstance(data, dict):
        raise CustomerValidationError({"_body": ["Expected a JSON object."]})
    try:
        return schema.load(data)
    except ValidationError as error:
        raise CustomerValidationError(flatten_errors(error.messages)) from None
