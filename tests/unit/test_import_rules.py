"""Pure parts of the importer: a chunk's plan (row semantics), drop paths, queue messages."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import orjson
import pytest

from impex_worker.imports.checks import Valid, check_records
from impex_worker.imports.formats import Record
from impex_worker.imports.messages import (
    DropFile,
    DropRecords,
    DropRefused,
    ImportBatch,
    dead_letter_reason,
    parse_import_message,
)
from impex_worker.imports.plan import lookup_keys, plan_chunk, prepare_chunk
from impex_worker.imports.sources import PathRefused, resolve_drop_path
from impex_worker.messages import InvalidMessage

NOW = datetime(2024, 5, 19, 3, 48, 22, 75000, tzinfo=UTC)


def stored(**fields) -> dict:
    """A customer row as the repository returns it."""
    columns = {
        "customer_ref": None, "alternate_customer_ref": None, "email": None, "first_name": None,
        "last_name": None, "mobile": None, "phone": None,
    }  # fmt: skip
    profile = fields.pop("profile", {})
    return {"id": uuid.uuid4(), **columns, **fields, "profile": profile}


def valid(*records: dict) -> list[Valid]:
    return [Valid(row, dict(record)) for row, record in enumerate(records, start=1)]


def test_a_record_matches_by_customer_ref_before_email():
    by_ref = stored(customer_ref="R-1", email="one@example.com")
    by_email = stored(customer_ref="R-2", email="two@example.com")
    plan = plan_chunk(
        valid({"customerRef": "R-1", "email": "one@example.com", "firstName": "A"}),
        [by_ref, by_email], now=NOW,
    )  # fmt: skip
    assert [row.id for row in plan.updates] == [by_ref["id"]] and plan.inserts == []


def test_an_unknown_ref_falls_back_to_the_email_case_insensitively():
    customer = stored(customer_ref="OLD", email="Mixed@Example.com")
    plan = plan_chunk(
        valid({"customerRef": "NEW", "email": "mixed@example.COM"}),
        [customer], now=NOW,
    )  # fmt: skip
    (update,) = plan.updates
    assert update.id == customer["id"] and update.columns["customer_ref"] == "NEW"


def test_unchanged_customers_are_not_written_or_announced():
    customer = stored(customer_ref="R", email="r@example.com", first_name="Same")
    plan = plan_chunk(
        valid({"customerRef": "R", "email": "r@example.com", "firstName": "Same"}),
        [customer], now=NOW,
    )  # fmt: skip
    assert (plan.inserts, plan.updates, plan.created, plan.updated, plan.imported) == (
        [], [], [], [], 1,
    )  # fmt: skip


def test_repeated_records_collapse_into_one_customer_last_one_winning():
    plan = plan_chunk(
        valid(
            {"customerRef": "D", "email": "d@example.com", "firstName": "first"},
            {"email": "D@example.com", "lastName": "middle"},
            {"customerRef": "D", "email": "d@example.com", "firstName": "last"},
        ),
        [], now=NOW,
    )  # fmt: skip
    (insert,) = plan.inserts
    assert (insert.columns["first_name"], insert.columns["last_name"]) == ("last", "middle")
    created = {"id": str(insert.id), "customerRef": "D", "alternateCustomerRef": None}
    assert plan.created == [created]
    assert plan.updated == [] and plan.imported == 3


def test_taking_another_customers_identifier_is_a_row_error():
    holder = stored(customer_ref="H", email="h@example.com", alternate_customer_ref="ALT")
    plan = plan_chunk(
        valid(
            {"customerRef": "N", "email": "h@example.com"},
            {"customerRef": "M", "email": "m@example.com", "alternateCustomerRef": "ALT"},
            {"customerRef": "X", "email": "x@example.com"},
            {"customerRef": "Y", "email": "x@example.com"},
            {"customerRef": "X", "email": "z@example.com"},
        ),
        [holder], now=NOW,
    )  # fmt: skip
    # 1 matches the holder by email and renames its ref; 2 wants the holder's alternate ref;
    # 4 matches customer X by email and renames it Y, so 5 makes a new X... with a fresh email.
    assert [(e.row, e.errors) for e in plan.errors] == [
        (2, {"alternateCustomerRef": ["already in use"]}),
    ]
    assert plan.imported == 4
    assert [row.columns["customer_ref"] for row in plan.updates] == ["N"]
    assert sorted(row.columns["customer_ref"] for row in plan.inserts) == ["X", "Y"]


def test_a_record_taking_an_email_held_by_another_ref_is_a_row_error():
    plan = plan_chunk(
        valid(
            {"customerRef": "A", "email": "a@example.com"},
            {"customerRef": "B", "email": "b@example.com"},
            {"customerRef": "B", "email": "a@example.com"},
        ),
        [], now=NOW,
    )  # fmt: skip
    assert [(e.row, e.customer_ref, e.errors) for e in plan.errors] == [
        (3, "B", {"email": ["already in use"]}),
    ]
    assert len(plan.inserts) == 2


def test_an_email_given_up_in_the_chunk_can_be_taken_by_a_later_record():
    leaver = stored(customer_ref="L", email="shared@example.com")
    plan = plan_chunk(
        valid(
            {"customerRef": "L", "email": "new@example.com"},
            {"customerRef": "T", "email": "shared@example.com"},
        ),
        [leaver], now=NOW,
    )  # fmt: skip
    assert plan.errors == [] and len(plan.inserts) == 1 and len(plan.updates) == 1


def test_a_prepared_chunk_plans_exactly_as_one_merged_in_the_transaction():
    """prepare_chunk works out each record's new customer ahead (beside the previous chunk's
    transaction); the plan must not differ from merging every record in plan_chunk: matches,
    repeats within the chunk (merged again), caps broken, marketing timestamps and collisions."""
    by_ref = stored(
        customer_ref="R-1", email="one@example.com", first_name="Old", alternate_customer_ref="A"
    )
    records = [
        {"customerRef": "R-1", "email": "one@example.com", "firstName": "New"},
        {"customerRef": "N-1", "email": "n1@example.com", "accepts_marketing": True,
         "addresses": [{"address1": "1 Lane", "city": "Leeds", "countryCode": "GB"}]},
        {"email": "N1@example.com", "lastName": "again"},
        {"customerRef": "N-2", "email": "n2@example.com",
         "attributeGroups": {f"g{n}": {"attributes": {"a": 1}} for n in range(60)}},
        {"customerRef": "N-3", "email": "one@example.com"},
        {"customerRef": "N-4", "email": "n4@example.com", "taxExemptions": ["VAT"]},
        {"customerRef": "N-5", "email": "n5@example.com", "alternateCustomerRef": "A"},
    ]  # fmt: skip
    checked = prepare_chunk(
        [Record(n, record) for n, record in enumerate(records, start=1)], now=NOW
    )
    assert all(v.fresh is not None for v in checked.valid)
    plain = [Valid(v.row, v.changes) for v in checked.valid]
    ahead = plan_chunk(checked.valid, [by_ref], now=NOW)
    merged = plan_chunk(plain, [by_ref], now=NOW)

    def profile(row):  # new addresses get random ids
        addresses = [{**a, "id": None} for a in row.profile.get("addresses", [])]
        return {**row.profile, "addresses": addresses}

    def comparable(plan):
        return (
            [(r.columns, profile(r)) for r in plan.inserts],
            [(r.id, r.columns, profile(r)) for r in plan.updates],
            [(e.row, e.errors) for e in plan.errors],
            plan.imported, len(plan.created), plan.updated,
        )  # fmt: skip

    assert comparable(ahead) == comparable(merged)
    # R-1 then N-3 (by email) update one customer; N-1 (merged twice) and N-4 are new; N-2
    # has too many attribute groups (the schema says so) and N-5 takes R-1's
    # alternateCustomerRef (the plan says so).
    assert (ahead.imported, len(ahead.inserts), len(ahead.updates)) == (5, 2, 1)
    assert [e.row for e in checked.errors] == [4] and [e.row for e in ahead.errors] == [7]
    (n1,) = [r for r in ahead.inserts if r.columns["customer_ref"] == "N-1"]
    assert n1.columns["last_name"] == "again" and n1.profile["accepts_marketing"] is True


def test_lookup_keys_cover_every_identifier_of_the_chunk():
    keys = lookup_keys(
        valid(
            {"customerRef": "A", "email": "A@X.com", "alternateCustomerRef": "ALT"},
            {"email": "b@x.com", "customerRef": None},
        )
    )
    assert keys == (["A"], ["a@x.com", "b@x.com"], ["ALT"])


def test_row_errors_keep_storable_identifiers_only():
    checked = check_records(
        [
            Record(1, {"email": "bad\x00", "customerRef": 7}),
            Record(2, None, {"_record": ["Malformed."]}),
            Record(3, {"email": "ok@example.com"}),
        ]
    )
    assert [v.row for v in checked.valid] == [3]
    first, second = checked.errors
    assert (first.email, first.customer_ref) == ("bad", None) and "email" in first.errors
    assert (second.row, second.errors) == (2, {"_record": ["Malformed."]})


@pytest.fixture
def drop_dir(tmp_path):
    """IMPEX_DROP_DIR with tenant t1's folder (and tenant t2's, which t1 may not read)."""
    root = tmp_path / "drop"
    mine = root / "t1"
    (mine / "in").mkdir(parents=True)
    (mine / "in" / "a.csv").write_text("email\n")
    (root / "t2").mkdir()
    (root / "t2" / "b.csv").write_text("email\n")
    (tmp_path / "secret.csv").write_text("email\n")
    os.symlink(tmp_path / "secret.csv", mine / "out.csv")
    os.symlink(root / "t2" / "b.csv", mine / "theirs.csv")
    os.symlink(mine / "in" / "a.csv", mine / "inside.csv")
    return root


def test_drop_paths_inside_the_tenants_folder_resolve(drop_dir):
    mine = drop_dir / "t1"
    assert resolve_drop_path("in/a.csv", drop_dir, "t1") == (mine / "in" / "a.csv").resolve()
    assert resolve_drop_path(str(mine / "in" / "a.csv"), drop_dir, "t1").name == "a.csv"
    assert resolve_drop_path("inside.csv", drop_dir, "t1").name == "a.csv"  # a link that stays in
    assert resolve_drop_path("b.csv", drop_dir, "t2").name == "b.csv"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../secret.csv", "'..'"),
        ("in/../in/a.csv", "'..'"),
        ("../t2/b.csv", "'..'"),
        ("/etc/passwd", "outside IMPEX_DROP_DIR/t1"),
        ("{drop}/t2/b.csv", "outside IMPEX_DROP_DIR/t1"),
        ("{drop}/t1/../t2/b.csv", "'..'"),
        ("out.csv", "leads outside"),
        ("theirs.csv", "leads outside"),
        ("", "empty"),
        (".", "leads outside"),
    ],
)
def test_drop_paths_leaving_the_tenants_folder_are_refused(drop_dir, path, reason):
    """Another tenant's folder is as far out of reach as the rest of the machine."""
    with pytest.raises(PathRefused, match=reason):
        resolve_drop_path(path.format(drop=drop_dir), drop_dir, "t1")


def test_import_messages_are_parsed_by_shape():
    batch_id = uuid.uuid4()
    assert parse_import_message(
        orjson.dumps({"tenant": "t1", "batchId": str(batch_id), "eventId": "e"})
    ) == ImportBatch("t1", batch_id)
    assert parse_import_message(
        orjson.dumps({"tenant": "t1", "batchRef": "r", "format": "csv", "path": "a.csv"})
    ) == DropFile("t1", "r", "csv", "a.csv")
    assert parse_import_message(
        orjson.dumps({"tenant": "t1", "batchRef": "r", "records": [{}]})
    ) == DropRecords("t1", "r", [{}])
    refused = parse_import_message(
        orjson.dumps({"tenant": "t1", "batchRef": "r", "format": "xml", "path": "a"})
    )
    assert isinstance(refused, DropRefused) and "format" in refused.reason


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        orjson.dumps({"batchId": str(uuid.uuid4())}),
        orjson.dumps({"tenant": "bad tenant!", "batchRef": "r", "records": []}),
        orjson.dumps({"tenant": "t1", "batchId": "nope"}),
        orjson.dumps({"tenant": "t1", "records": []}),
        orjson.dumps({"tenant": "t1", "batchRef": "x" * 256, "records": []}),
    ],
)
def test_messages_naming_no_batch_are_invalid(body):
    with pytest.raises(InvalidMessage):
        parse_import_message(body)


def test_dead_letter_reasons_are_worded_for_people():
    assert dead_letter_reason({"x-death": [{"reason": "delivery_limit"}]}) == (
        "it failed too many times"
    )
    assert dead_letter_reason({"x-death": [{"reason": b"rejected"}]}) == "it was refused"
    assert dead_letter_reason(None) == "it was dead-lettered"
