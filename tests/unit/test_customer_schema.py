"""The shared customer request schema (API.md §1 conventions, §3 customer representation)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.schemas import (
    CustomerValidationError,
    flatten_errors,
    load_address,
    load_customer,
)

# The create sample of seed 000 as sent, except that its placeholder email and country codes
# ("string") are made valid; its read-only garbage (ids, timestamps like "2022-32-09") is kept.
SEED_SAMPLE: dict[str, Any] = {
    "accepts_marketing": True,
    "active": True,
    "addresses": [
        {
            "address1": "string",
            "address2": "string",
            "addressName": "string",
            "city": "string",
            "company": "string",
            "country": "string",
            "countryCode": "AU",
            "customerId": "string",
            "defaultAddress": True,
            "email": "cust@email.com",
            "firstName": "string",
            "id": "string",
            "lastName": "string",
            "phone": "string",
            "postcode": "string",
            "province": "string",
            "provinceCode": "string",
        }
    ],
    "attributeGroups": {
        f"additionalProp{g}": {
            "attributes": {f"additionalProp{a}": "string" for a in (1, 2, 3)},
            "description": "string",
        }
        for g in (1, 2, 3)
    },
    "createdDate": "2022-06-20T06:21:32.358Z",
    "customerRef": "string",
    "customer_state": "disabled",
    "defaultAddress": {
        "address1": "string",
        "countryCode": "string",
        "customerId": "string",
        "defaultAddress": True,
        "email": "string",
        "id": "string",
    },
    "dob": "25-10-1985",
    "email": "test@customer.com",
    "firstName": "string",
    "id": "string",
    "lastModifiedDate": "2022-06-20T06:21:32.358Z",
    "lastName": "string",
    "marketing_optin_level": "single_opt_in",
    "marketing_preferences_updated_at": "2022-06-20T06:21:32.358Z",
    "mobile": "string",
    "phone": "string",
    "taxExempt": True,
    "taxExemptions": ["string"],
    "optin_preferences": {
        "sms": {
            "opt_in_active": False,
            "opted_in_at": "2022-32-09 07:32:51",
            "opt_in_updated_at": "2022-32-09 07:32:51",
        },
        "email": {
            "opt_in_active": True,
            "opted_in_at": "2022-32-09 07:32:59",
            "opt_in_updated_at": "2022-32-09 07:32:59",
        },
    },
    "verified_email": True,
}


def errors_of(data: object, *, partial: bool = False) -> dict[str, list[str]]:
    with pytest.raises(CustomerValidationError) as caught:
        load_customer(data, partial=partial)
    return caught.value.errors


def with_email(**fields: Any) -> dict[str, Any]:
    return {"email": "a@example.com", **fields}


def test_seed_sample_request_loads_and_drops_read_only_fields() -> None:
    """The seed's create sample loads; its read-only fields are dropped, writable ones kept."""
    loaded = load_customer(copy.deepcopy(SEED_SAMPLE))
    for read_only in ("id", "createdDate", "lastModifiedDate", "defaultAddress"):
        assert read_only not in loaded
    assert "marketing_preferences_updated_at" not in loaded
    assert loaded["optin_preferences"] == {
        "sms": {"opt_in_active": False},
        "email": {"opt_in_active": True},
    }
    address = loaded["addresses"][0]
    assert "customerId" not in address
    assert address["id"] == "string"
    assert address["defaultAddress"] is True
    assert loaded["attributeGroups"]["additionalProp2"]["attributes"]["additionalProp3"] == "string"
    assert loaded["customer_state"] == "disabled"
    assert loaded["dob"] == "25-10-1985"
    assert loaded["taxExemptions"] == ["string"]


def test_read_only_fields_are_dropped_even_with_wrong_types() -> None:
    """Read-only fields are ignored without validation, whatever they hold."""
    loaded = load_customer(
        with_email(
            id=123,
            deleted="maybe",
            totalOrders={"x": 1},
            lifetimeOrderValue=[1],
            lastOrderDate="yesterday-ish",
            defaultAddress="not an address",
            addresses=[{"customerId": {"bad": True}, "city": "Sydney"}],
        )
    )
    assert loaded == {"email": "a@example.com", "addresses": [{"city": "Sydney"}]}


def test_unknown_fields_are_dropped() -> None:
    """Fields the API does not define are dropped at every level."""
    loaded = load_customer(
        with_email(
            shoeSize=42,
            addresses=[{"city": "Perth", "planet": "Earth"}],
            optin_preferences={"email": {"opt_in_active": True, "channel": "x"}},
            attributeGroups={"g": {"attributes": {}, "colour": "red"}},
        )
    )
    assert "shoeSize" not in loaded
    assert loaded["addresses"] == [{"city": "Perth"}]
    assert loaded["optin_preferences"] == {"email": {"opt_in_active": True}}
    assert loaded["attributeGroups"] == {"g": {"attributes": {}}}


def test_email_required_on_create() -> None:
    """A create without email names the email field."""
    assert errors_of({"firstName": "Ann"}) == {"email": ["Missing data for required field."]}


def test_email_not_required_on_partial_update() -> None:
    """An update may leave the email out."""
    assert load_customer({"firstName": "Ann"}, partial=True) == {"firstName": "Ann"}


def test_email_may_not_be_null_even_on_update() -> None:
    """Email cannot be cleared."""
    assert "email" in errors_of({"email": None}, partial=True)


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a..b@example.com", "", 42])
def test_invalid_email_rejected(email: object) -> None:
    """Malformed or non-string emails are rejected on the email field."""
    errors = errors_of({"email": email})
    assert list(errors) == ["email"]


def test_invalid_email_message() -> None:
    """The message for a malformed email is the documented one."""
    assert errors_of({"email": "nope"}) == {"email": ["Not a valid email address."]}


def test_email_is_stripped_but_otherwise_kept_as_given() -> None:
    """Surrounding whitespace goes; case and the rest stay."""
    assert load_customer({"email": "  Ann.Smith@Example.COM "})["email"] == "Ann.Smith@Example.COM"


def test_address_email_validated() -> None:
    """An address email must be a valid email too."""
    assert errors_of(with_email(addresses=[{"email": "x"}])) == {
        "addresses.0.email": ["Not a valid email address."]
    }


def test_dob_must_be_a_real_date() -> None:
    """31 February does not exist."""
    assert errors_of(with_email(dob="31-02-1990")) == {"dob": ["Not a real calendar date."]}


def test_dob_in_the_future_rejected() -> None:
    """A birth date after today is rejected."""
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%d-%m-%Y")
    assert errors_of(with_email(dob=future)) == {"dob": ["Must not be in the future."]}


def test_member_since_today_accepted() -> None:
    """Today is not in the future."""
    today = datetime.now(UTC).strftime("%d-%m-%Y")
    assert load_customer(with_email(memberSince=today))["memberSince"] == today


def test_dob_is_kept_exactly_as_sent() -> None:
    """A valid dd-mm-yyyy date is stored as given."""
    assert load_customer(with_email(dob="05-01-1985"))["dob"] == "05-01-1985"


@pytest.mark.parametrize("field", ["dob", "memberSince"])
@pytest.mark.parametrize("value", ["5-1-1985", "05-1-1985", "5-01-1985", "005-01-1985"])
def test_dates_must_be_zero_padded(field: str, value: str) -> None:
    """dd-mm-yyyy means two digits for the day and the month: `5-1-1985` is refused, not
    rewritten as `05-01-1985`."""
    assert errors_of(with_email(**{field: value})) == {
        field: ["Must be a date in dd-mm-yyyy format."]
    }


@pytest.mark.parametrize(
    "value",
    [
        "1990-02-01",
        "01/02/1990",
        "1-2-90",
        "01-02-1990 ",
        " 01-02-1990",
        "01-02-1990\n",
        "01-02-01990",
        "\u0660\u0661-\u0660\u0662-\u0661\u0669\u0669\u0660",  # Arabic-Indic digits
        19900201,
    ],
)
def test_dob_wrong_format_rejected(value: object) -> None:
    """Only dd-mm-yyyy strings of ASCII digits are dates."""
    assert "dob" in errors_of(with_email(dob=value))


def test_member_since_validated_like_dob() -> None:
    """memberSince follows the same date rules."""
    assert errors_of(with_email(memberSince="29-02-2023")) == {
        "memberSince": ["Not a real calendar date."]
    }


def test_bad_country_code_reported_by_path() -> None:
    """An unknown country code is reported at addresses.<index>.countryCode."""
    data = with_email(addresses=[{"countryCode": "AU"}, {"countryCode": "XX"}])
    assert errors_of(data) == {
        "addresses.1.countryCode": ["Not a valid ISO 3166-1 alpha-2 country code."]
    }


def test_country_code_any_case_normalised_to_upper() -> None:
    """`nz` is accepted as `NZ`."""
    loaded = load_customer(with_email(addresses=[{"countryCode": "nz"}]))
    assert loaded["addresses"][0]["countryCode"] == "NZ"


@pytest.mark.parametrize("code", ["AUS", "string", "", "A"])
def test_country_code_must_be_alpha_2(code: str) -> None:
    """Alpha-3 codes, names and empty strings are not alpha-2 codes."""
    assert "addresses.0.countryCode" in errors_of(with_email(addresses=[{"countryCode": code}]))


def test_at_most_50_addresses() -> None:
    """51 addresses are rejected on the addresses field; 50 are fine."""
    assert errors_of(with_email(addresses=[{"city": "x"}] * 51)) == {
        "addresses": ["At most 50 addresses are allowed."]
    }
    assert len(load_customer(with_email(addresses=[{"city": "x"}] * 50))["addresses"]) == 50


def groups(count: int, attributes: int = 0) -> dict[str, Any]:
    return {
        f"g{n}": {"attributes": {f"a{i}": "v" for i in range(attributes)}} for n in range(count)
    }


def test_at_most_50_attribute_groups_of_at_most_100_attributes() -> None:
    """51 groups are refused on attributeGroups, 101 attributes on that group's attributes;
    50 groups of 100 attributes are fine."""
    assert errors_of(with_email(attributeGroups=groups(51))) == {
        "attributeGroups": ["At most 50 attribute groups are allowed."]
    }
    assert errors_of(with_email(attributeGroups=groups(1, attributes=101))) == {
        "attributeGroups.g0.attributes": ["At most 100 attributes are allowed in a group."]
    }
    assert len(load_customer(with_email(attributeGroups=groups(50, 100)))["attributeGroups"]) == 50


def test_several_default_addresses_accepted() -> None:
    """The service keeps the last flagged default; the schema does not reject several."""
    loaded = load_customer(with_email(addresses=[{"defaultAddress": True}] * 2))
    assert [a["defaultAddress"] for a in loaded["addresses"]] == [True, True]


def test_address_entries_must_be_objects() -> None:
    """A non-object address is reported at its own index."""
    errors = errors_of(with_email(addresses=["x", None]))
    assert set(errors) == {"addresses.0", "addresses.1"}


def test_enum_fields_reject_unknown_values() -> None:
    """customer_state and marketing_optin_level only take their listed values."""
    errors = errors_of(with_email(customer_state="active", marketing_optin_level="double"))
    assert errors == {
        "customer_state": ["Must be one of: disabled, invited, enabled, declined."],
        "marketing_optin_level": ["Must be one of: single_opt_in, confirmed_opt_in, unknown."],
    }


@pytest.mark.parametrize("state", ["disabled", "invited", "enabled", "declined"])
def test_every_customer_state_accepted(state: str) -> None:
    """Each documented customer_state loads."""
    assert load_customer(with_email(customer_state=state))["customer_state"] == state


def test_string_longer_than_255_rejected() -> None:
    """Writable strings are at most 255 characters, nested ones included."""
    errors = errors_of(with_email(firstName="x" * 256, addresses=[{"city": "y" * 256}]))
    assert errors == {
        "firstName": ["Longer than maximum length 255."],
        "addresses.0.city": ["Longer than maximum length 255."],
    }
    assert load_customer(with_email(firstName="x" * 255))["firstName"] == "x" * 255


def test_wrong_types_give_clear_messages() -> None:
    """Type errors say what was expected."""
    errors = errors_of(
        with_email(firstName=5, active="yes", taxExemptions="vat", addresses={"city": "x"})
    )
    assert errors == {
        "firstName": ["Not a valid string."],
        "active": ["Not a valid boolean."],
        "taxExemptions": ["Not a valid list."],
        "addresses": ["Not a valid list."],
    }


BOOLEAN_FIELDS = [
    "active",
    "verified_email",
    "taxExempt",
    "accepts_marketing",
    "vipStatus",
    "addresses.0.defaultAddress",
    "optin_preferences.email.opt_in_active",
    "optin_preferences.sms.opt_in_active",
]


def nested(path: str, value: object) -> dict[str, Any]:
    """A request with `value` at the dotted `path` (numbers index one-item lists)."""
    node: Any = value
    for step in reversed(path.split(".")):
        node = [node] if step.isdigit() else {step: node}
    return with_email(**node)


@pytest.mark.parametrize("path", BOOLEAN_FIELDS)
@pytest.mark.parametrize("value", [1, 0, "true", "false", "TRUE", "yes", ""])
def test_booleans_are_strict(path: str, value: object) -> None:
    """Every boolean field (vipStatus included: Boolean in the seed) takes JSON true/false
    only; the strings "true"/"false" are type errors."""
    assert errors_of(nested(path, value)) == {path: ["Not a valid boolean."]}


@pytest.mark.parametrize("path", BOOLEAN_FIELDS)
@pytest.mark.parametrize("value", [True, False])
def test_booleans_load_as_booleans(path: str, value: bool) -> None:
    loaded: Any = load_customer(nested(path, value))
    for step in path.split("."):
        loaded = loaded[int(step)] if step.isdigit() else loaded[step]
    assert loaded is value


def test_tax_exemptions_items_must_be_strings() -> None:
    """Each tax exemption is a string; errors name the index."""
    errors = errors_of(with_email(taxExemptions=["GST", 7, None]))
    assert errors == {
        "taxExemptions.1": ["Not a valid string."],
        "taxExemptions.2": ["Field may not be null."],
    }


def test_null_clears_optional_fields() -> None:
    """An explicit null is kept as None so an update can clear the field."""
    nullable = [
        "customerRef",
        "alternateCustomerRef",
        "firstName",
        "lastName",
        "dob",
        "memberSince",
        "mobile",
        "phone",
        "customer_state",
        "active",
        "verified_email",
        "taxExempt",
        "taxExemptions",
        "location",
        "vipStatus",
        "loyaltyTier",
        "spendToNextTier",
        "joinedStoreId",
        "accepts_marketing",
        "marketing_optin_level",
        "optin_preferences",
        "attributeGroups",
        "addresses",
    ]
    loaded = load_customer(dict.fromkeys(nullable), partial=True)
    assert loaded == dict.fromkeys(nullable)


def test_attribute_group_shape_errors_have_paths() -> None:
    """Attribute errors are reported at attributeGroups.<group>.<field>[.<name>]."""
    errors = errors_of(
        with_email(
            attributeGroups={
                "g1": {"attributes": {"x": 1, "ok": "fine"}, "description": ["no"]},
                "g2": {"attributes": "not a map"},
                "g3": "not a group",
                "g4": {"attributes": {"y": "v" * 256}},
            }
        )
    )
    assert errors == {
        "attributeGroups.g1.attributes.x": ["Not a valid string."],
        "attributeGroups.g1.description": ["Not a valid string."],
        "attributeGroups.g2.attributes": ["Not a valid mapping type."],
        "attributeGroups.g3": ["Invalid input type."],
        "attributeGroups.g4.attributes.y": ["Longer than maximum length 255."],
    }


def test_attribute_group_names_must_be_1_to_255_chars() -> None:
    """Empty or over-long group names are reported on attributeGroups."""
    errors = errors_of(with_email(attributeGroups={"": {}, "n" * 256: {}}))
    assert errors == {
        "attributeGroups": [
            "Group names must not be empty.",
            "Group names must be at most 255 characters long.",
        ]
    }


def test_attribute_names_at_most_255_chars() -> None:
    """An over-long attribute name is reported on its group's attributes."""
    errors = errors_of(with_email(attributeGroups={"g": {"attributes": {"a" * 256: "v"}}}))
    assert errors == {
        "attributeGroups.g.attributes": ["Attribute names must be at most 255 characters long."]
    }


def test_attribute_group_null_allowed() -> None:
    """A group set to null (remove it on update) is kept as None."""
    loaded = load_customer(
        {"attributeGroups": {"gone": None, "kept": {"attributes": {"k": "v"}}}}, partial=True
    )
    assert loaded == {"attributeGroups": {"gone": None, "kept": {"attributes": {"k": "v"}}}}


def test_attribute_groups_must_be_a_map() -> None:
    """attributeGroups as a list is a type error."""
    assert errors_of(with_email(attributeGroups=[])) == {
        "attributeGroups": ["Not a valid mapping type."]
    }


def test_spend_to_next_tier_is_a_string() -> None:
    """spendToNextTier is a string in the seed; it is stored as sent."""
    assert load_customer(with_email(spendToNextTier="99.90"))["spendToNextTier"] == "99.90"


@pytest.mark.parametrize("value", [150, 12.5, True, [1], {"a": 1}])
def test_spend_to_next_tier_rejects_numbers_and_other_types(value: object) -> None:
    """A JSON number is not a string: refused rather than stored as its text (`12.5`)."""
    assert errors_of(with_email(spendToNextTier=value)) == {
        "spendToNextTier": ["Not a valid string."]
    }


@pytest.mark.parametrize(
    "field",
    ["firstName", "lastName", "mobile", "phone", "location", "loyaltyTier", "joinedStoreId"],
)
def test_string_fields_refuse_numbers(field: str) -> None:
    """No writable string field turns a number into text."""
    assert errors_of(with_email(**{field: 12})) == {field: ["Not a valid string."]}


@pytest.mark.parametrize("field", ["customerRef", "alternateCustomerRef"])
def test_identifiers_must_not_be_empty(field: str) -> None:
    """An empty ref would be stored, unreachable by its read path, and block every other
    customer sending "" (uniqueness): refused, on create and on update."""
    assert errors_of(with_email(**{field: ""})) == {field: ["Must not be empty."]}
    assert errors_of({field: ""}, partial=True) == {field: ["Must not be empty."]}


@pytest.mark.parametrize("field", ["customerRef", "alternateCustomerRef"])
def test_identifiers_of_one_character_and_null_are_fine(field: str) -> None:
    """One character is enough; null still clears the identifier on update."""
    assert load_customer(with_email(**{field: "X"}))[field] == "X"
    assert load_customer({field: None}, partial=True) == {field: None}


@pytest.mark.parametrize("email", ["", "   "])
def test_empty_email_is_not_a_valid_email(email: str) -> None:
    """The email is required and syntax-checked, so an empty one is already refused."""
    assert errors_of({"email": email}) == {"email": ["Not a valid email address."]}
    assert errors_of({"email": email}, partial=True) == {"email": ["Not a valid email address."]}


def test_address_id_must_be_a_string() -> None:
    """An address id names a stored address (kept across a PUT), so it is validated input;
    the read-only customerId beside it is ignored whatever it holds."""
    assert errors_of(with_email(addresses=[{"id": 5}])) == {
        "addresses.0.id": ["Not a valid string."]
    }
    loaded = load_customer(with_email(addresses=[{"id": "a-1", "customerId": {}}]))
    assert loaded["addresses"] == [{"id": "a-1"}]
    assert load_customer(with_email(customerId={}, addresses=[{"city": "x", "customerId": 5}]))[
        "addresses"
    ] == [{"city": "x"}]


def test_partial_load_returns_only_given_keys() -> None:
    """An update's result holds exactly the writable fields sent."""
    loaded = load_customer({"lastName": "Smith", "vipStatus": True, "id": "x"}, partial=True)
    assert loaded == {"lastName": "Smith", "vipStatus": True}


def test_create_adds_no_defaults() -> None:
    """Absent fields stay absent on create too; defaults are the service's business."""
    assert load_customer({"email": "a@example.com"}) == {"email": "a@example.com"}


@pytest.mark.parametrize("body", [None, [], ["a"], "text", 7])
def test_non_object_body_rejected(body: object) -> None:
    """A body that is not a JSON object is a schema-level error."""
    assert errors_of(body) == {"_schema": ["Invalid input type."]}


def test_unstorable_characters_rejected() -> None:
    """NUL and lone surrogates, which PostgreSQL cannot store, are rejected."""
    errors = errors_of(with_email(firstName="a\x00b", lastName="\ud800"))
    assert set(errors) == {"firstName", "lastName"}


def test_validation_error_is_a_value_error_with_errors() -> None:
    """Callers may catch ValueError; the field errors travel on `.errors`."""
    with pytest.raises(ValueError, match="email"):
        load_customer({})


def test_optin_preference_must_be_boolean() -> None:
    """opt_in_active is validated; its path is dotted."""
    assert errors_of(with_email(optin_preferences={"sms": {"opt_in_active": "on"}})) == {
        "optin_preferences.sms.opt_in_active": ["Not a valid boolean."]
    }


def test_load_address_validates_one_address() -> None:
    """A single address is validated with the same rules."""
    assert load_address({"countryCode": "gb", "customerId": "x"}) == {"countryCode": "GB"}
    with pytest.raises(CustomerValidationError) as caught:
        load_address({"countryCode": "QQ"})
    assert caught.value.errors == {"countryCode": ["Not a valid ISO 3166-1 alpha-2 country code."]}


def test_flatten_errors_dots_nested_paths() -> None:
    """Nested marshmallow messages become dotted paths; `_schema` takes its object's path."""
    messages = {
        "email": ["bad"],
        "addresses": {0: {"countryCode": ["x"]}, 2: {"_schema": ["Invalid input type."]}},
        "_schema": ["whole"],
    }
    assert flatten_errors(messages) == {
        "email": ["bad"],
        "addresses.0.countryCode": ["x"],
        "addresses.2": ["Invalid input type."],
        "_schema": ["whole"],
    }
