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


def test_dob_is_normalised_to_zero_padded() -> None:
    """`1-2-1990` is stored as `01-02-1990`."""
    assert load_customer(with_email(dob="1-2-1990"))["dob"] == "01-02-1990"


@pytest.mark.parametrize("value", ["1990-02-01", "01/02/1990", "1-2-90", "01-02-1990 ", 19900201])
def test_dob_wrong_format_rejected(value: object) -> None:
    """Only dd-mm-yyyy strings are dates."""
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


@pytest.mark.parametrize("value", [1, 0, "true", "yes"])
def test_booleans_are_strict(value: object) -> None:
    """Only JSON true/false are booleans (vipStatus excepted)."""
    assert errors_of(with_email(taxExempt=value)) == {"taxExempt": ["Not a valid boolean."]}


def test_vip_status_accepts_true_false_strings() -> None:
    """vipStatus takes "true"/"false" strings as booleans."""
    assert load_customer(with_email(vipStatus="true"))["vipStatus"] is True
    assert load_customer(with_email(vipStatus="false"))["vipStatus"] is False
    assert "vipStatus" in errors_of(with_email(vipStatus="maybe"))


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


@pytest.mark.parametrize(("sent", "kept"), [(150, "150"), (12.5, "12.5"), ("99.90", "99.90")])
def test_spend_to_next_tier_number_becomes_string(sent: object, kept: str) -> None:
    """spendToNextTier accepts a number and stores its string form."""
    assert load_customer(with_email(spendToNextTier=sent))["spendToNextTier"] == kept


@pytest.mark.parametrize("value", [True, [1], {"a": 1}])
def test_spend_to_next_tier_rejects_non_numbers(value: object) -> None:
    """Booleans and containers are not amounts."""
    assert errors_of(with_email(spendToNextTier=value)) == {
        "spendToNextTier": ["Not a valid string or number."]
    }


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
