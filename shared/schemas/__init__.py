"""Request schemas shared by the customer API and the import worker."""

from shared.schemas.customer import (
    CUSTOMER_STATES,
    MARKETING_OPTIN_LEVELS,
    MAX_ADDRESSES,
    MAX_ATTRIBUTE_GROUPS,
    MAX_ATTRIBUTES_PER_GROUP,
    MAX_PROFILE_BYTES,
    MAX_STRING_LENGTH,
    AddressSchema,
    AttributeGroupSchema,
    CustomerSchema,
    CustomerValidationError,
    OptinPreferenceSchema,
    OptinPreferencesSchema,
    flatten_errors,
    load_address,
    load_customer,
)

__all__ = [
    "CUSTOMER_STATES",
    "MARKETING_OPTIN_LEVELS",
    "MAX_ADDRESSES",
    "MAX_ATTRIBUTES_PER_GROUP",
    "MAX_ATTRIBUTE_GROUPS",
    "MAX_PROFILE_BYTES",
    "MAX_STRING_LENGTH",
    "AddressSchema",
    "AttributeGroupSchema",
    "CustomerSchema",
    "CustomerValidationError",
    "OptinPreferenceSchema",
    "OptinPreferencesSchema",
    "flatten_errors",
    "load_address",
    "load_customer",
]
