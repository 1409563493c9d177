"""The benchmark customers: N realistic rows of one tenant, written fast with COPY.

Rows are built the way customer_service stores them (`split_state`: identifier and search
columns, everything else in the `profile` jsonb), with distinct emails, customerRefs and
alternateCustomerRefs. Last names follow a long-tailed distribution over ~150,000 names (real
common surnames first, then made-up ones), so a search for a random customer's last name returns
a handful of rows (median ~8) and the most common names come close to the 100-row cap.

The seed is deterministic (a fixed RNG seed, ids included) and kept between runs: it is
reused when the tenant already holds exactly N live customers laid out as `LAYOUT` says (rows in
creation order, the tenants' rows interleaved by time, as customers of several retailers join).
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from operator import itemgetter

import asyncpg
import orjson

from shared.customers.representation import split_state

SEED = 20_240_601
CHUNK = 50_000
# Kept as the customers table's comment: a seed of another layout (before 2026-12-04, rows in
# random creation order) is not reused.
LAYOUT = "bench seed: rows in creation order, tenants interleaved"


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words(
    """
James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard
Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty
Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua
Michelle Kenneth Carol Kevin Amanda Brian Dorothy George Melissa Timothy Deborah Ronald
Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy
Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott
Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra
Frank Rachel Patrick Carolyn Raymond Janet Jack Catherine Dennis Maria Jerry Heather Tyler
Diane Aaron Ruth Jose Julie Adam Olivia Nathan Joyce Henry Virginia Douglas Victoria Zachary
Kelly Peter Lauren Kyle Christina Oliver Amelia Harry Isla Noah Ava Leo Mia Arthur Freya
Muhammad Aisha Wei Mei Hiroshi Yuki Raj Priya Lukas Sofia Mateo Lucia Ahmed Fatima Ivan Olga
"""
)

# Real common surnames take the first (most frequent) ranks of the distribution.
COMMON_SURNAMES = _words(
    """
Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson
Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner
Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott
Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter
Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson
Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt
Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker
Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson
Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West Lawrence
Cole Atkinson Bradley Spencer Gill Dawson Ball Burton OBrien Watts Rose Booth Perry Ryan Grant
Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe
Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins Harding Porter Robertson
Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane Cooke Bates Henderson
Garcia Rodriguez Martinez Hernandez Lopez Gonzalez Perez Sanchez Nguyen Kim Chen Wang Li Zhang
Liu Yamamoto Tanaka Suzuki Muller Schmidt Schneider Fischer Weber Rossi Russo Ferrari Kowalski
Nowak Novak Ivanov Petrov Silva Santos Pereira Costa Dubois Martin Bernard Jansen DeVries
"""
)

_PREFIXES = _words(
    """
Ash Black Brad Brook Craw Dun Fair Hal Har Kings Mar Mor Nor Pem Ren Stan Thorn Wal Whit Wood
Ab Al Ald Bar Bel Ben Bern Bran Bur Cal Car Chad Char Ches Col Cor Dal Dar Del Dor Ed El Elm
Far Fen Gar Gil Glen Gold Grim Ham Hart Hay Hel Her Hol Hum Kel Ken Ker Lang Lar Lin Lock Lud
Mal Man Mel Mer Mil Mont Nor Oak Or Pad Par Pen Quin Rad Ram Red Ros Rud Sal Sand Shel Sher
Stam Stock Sum Tal Tem Tor Tre Ux Van Ver Wes Wil Win Wor Yar Zel Crom Dray Fitz Grey Hask Ives
"""
)
_MIDDLES = _words(
    """
- a e i o en er in ing le ow ar el is an ald am ay ber bor dal ern ol ran ver
"""
)
_SUFFIXES = _words(
    """
ley ton field wood worth ford ham by well man son er ridge stone brook more dale croft hurst
wick bury combe den don gate hall land low mere mont ney ock ridge ry sett shaw stead stow thorpe
wade ward way well win wyn bridge cliff cott den ell fell ham holm ington kin lake leigh
berg mann stein ski ini ez ova ard ett ick ings kins
"""
)

_DOMAINS = (
    ("gmail.com", 40), ("outlook.com", 12), ("hotmail.com", 10), ("yahoo.com", 9),
    ("icloud.com", 7), ("proton.me", 3), ("btinternet.com", 3), ("gmx.de", 2),
    ("example.co.uk", 7), ("example.com", 7),
)  # fmt: skip
_CITIES = (
    ("London", "GB", "SW1A 1AA"), ("Manchester", "GB", "M1 1AE"), ("Leeds", "GB", "LS1 1UR"),
    ("Bristol", "GB", "BS1 4DJ"), ("Glasgow", "GB", "G1 1XQ"), ("New York", "US", "10001"),
    ("Chicago", "US", "60601"), ("Austin", "US", "73301"), ("Dublin", "IE", "D02 X285"),
    ("Berlin", "DE", "10115"), ("Paris", "FR", "75001"), ("Amsterdam", "NL", "1012 JS"),
)  # fmt: skip
_STREETS = ("High Street", "Station Road", "Church Lane", "Main Street", "Park Avenue",
            "Victoria Road", "Green Lane", "Manor Road", "Kings Road", "Queens Avenue")  # fmt: skip
_TIERS = (("bronze", 55), ("silver", 25), ("gold", 15), ("platinum", 5))

# The last-name distribution: weight of rank r is 1 / (r + K) ** S over ~150,000 names.
_SURNAME_S = 0.5
_SURNAME_K = 100
# alternateCustomerRef: i * multiplier mod 10**10 is a bijection (gcd = 1), so refs are distinct.
_ALT_MULTIPLIER = 7_919_364_821
_ALT_MODULUS = 10**10


def surnames() -> list[str]:
    """The ranked last names: real common ones first, then made-up ones, all distinct."""
    made_up = sorted(
        {
            (prefix + middle.strip("-") + suffix).capitalize()
            for prefix in _PREFIXES
            for middle in _MIDDLES
            for suffix in _SUFFIXES
        }
    )
    random.Random(SEED).shuffle(made_up)
    ranked = list(dict.fromkeys(COMMON_SURNAMES))
    seen = set(ranked)
    ranked.extend(name for name in made_up if name not in seen)
    return ranked


def _weighted(rng: random.Random, pairs: tuple[tuple[object, int], ...], k: int) -> list:
    values = [value for value, _ in pairs]
    return rng.choices(values, weights=[weight for _, weight in pairs], k=k)


def _records(tenant: str, count: int, seed: int = SEED) -> Iterator[list[tuple]]:
    """The rows to COPY, in chunks, as tuples in `COPY_COLUMNS` order, oldest first: a real
    customers table is appended as customers join, so its rows lie in about creation order (and
    an import writes its rows at the import's time)."""
    rng = random.Random(seed)
    # Creation times over five years, drawn apart from the other fields, then sorted.
    ages_rng = random.Random(seed + 1_000)
    ages = sorted((ages_rng.randrange(5 * 365 * 86_400) for _ in range(count)), reverse=True)
    last_names = surnames()
    weights = (1 / (rank + _SURNAME_K) ** _SURNAME_S for rank in range(len(last_names)))
    cum_weights = list(itertools.accumulate(weights))
    first_cum = list(itertools.accumulate(1 / (rank + 5) for rank in range(len(FIRST_NAMES))))
    now = datetime.now(UTC).replace(microsecond=0)
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        firsts = rng.choices(FIRST_NAMES, cum_weights=first_cum, k=size)
        lasts = rng.choices(last_names, cum_weights=cum_weights, k=size)
        domains = _weighted(rng, _DOMAINS, size)
        tiers = _weighted(rng, _TIERS, size)
        chunk = []
        for offset in range(size):
            index = start + offset
            first, last = firsts[offset], lasts[offset]
            style = index % 4
            local = (
                f"{first}.{last}{index}" if style == 0
                else f"{first[0]}{last}{index}" if style == 1
                else f"{first}_{last}.{index}" if style == 2
                else f"{last}.{first}{index}"
            )  # fmt: skip
            email = f"{local}@{domains[offset]}"
            if index % 20:  # one in twenty keeps its capitals (lookups are case-insensitive)
                email = email.lower()
            created = now - timedelta(seconds=ages[index])
            state: dict[str, object] = {
                "customerRef": f"CUST-{index + 1:08d}",
                "alternateCustomerRef": f"LOY{(index * _ALT_MULTIPLIER) % _ALT_MODULUS:010d}",
                "email": email,
                "firstName": first,
                "lastName": last,
                "mobile": f"+447700{rng.randrange(1_000_000):06d}" if rng.random() < 0.6 else None,
                "phone": f"+44161{rng.randrange(10_000_000):07d}" if rng.random() < 0.3 else None,
                "dob": f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1940, 2006)}",
                "loyaltyTier": tiers[offset],
                "accepts_marketing": rng.random() < 0.4,
                "memberSince": created.strftime("%d-%m-%Y"),
            }
            if rng.random() < 0.5:
                city, country, postcode = _CITIES[rng.randrange(len(_CITIES))]
                state["addresses"] = [
                    {
                        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "address1": f"{rng.randint(1, 250)} {rng.choice(_STREETS)}",
                        "city": city,
                        "countryCode": country,
                        "postcode": postcode,
                        "firstName": first,
                        "lastName": last,
                        "defaultAddress": True,
                    }
                ]
            columns, profile = split_state(state)
            chunk.append(
                (
                    tenant,
                    uuid.UUID(int=rng.getrandbits(128), version=4),
                    columns["customer_ref"],
                    columns["alternate_customer_ref"],
                    columns["email"],
                    columns["first_name"],
                    columns["last_name"],
                    columns["mobile"],
                    columns["phone"],
                    orjson.dumps(profile).decode(),
                    False,
                    created,
                    created,
                )
            )
        yield chunk


COPY_COLUMNS = (
    "tenant_id", "id", "customer_ref", "alternate_customer_ref", "email", "first_name",
    "last_name", "mobile", "phone", "profile", "deleted", "created_at", "last_modified_at",
)  # fmt: skip


_CREATED = COPY_COLUMNS.index("created_at")


def _interleaved(tenants: list[tuple[str, int, int]]) -> Iterator[list[tuple]]:
    """Every tenant's rows in one creation order, as customers of several retailers join side
    by side, in chunks."""
    rows = heapq.merge(
        *(itertools.chain.from_iterable(_records(*tenant)) for tenant in tenants),
        key=itemgetter(_CREATED),
    )
    while chunk := list(itertools.islice(rows, CHUNK)):
        yield chunk


async def live_count(conn: asyncpg.Connection, tenant: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM customer.customers WHERE tenant_id = $1 AND NOT deleted", tenant
    )


async def ensure_seeded(
    dsn: str, tenant: str, count: int, *, neighbours: dict[str, int] | None = None
) -> None:
    """Reuse the tenant's customers if there are exactly `count` (and each neighbour tenant has
    its count), else seed them all anew."""
    conn = await asyncpg.connect(dsn)
    try:
        wanted = {tenant: count, **(neighbours or {})}
        existing = {name: await live_count(conn, name) for name in wanted}
        layout = await conn.fetchval("SELECT obj_description('customer.customers'::regclass)")
        if existing == wanted and layout == LAYOUT:
            print(f"seed: reusing {existing[tenant]:,} customers of tenant {tenant!r}", flush=True)
            for name in neighbours or {}:
                print(f"seed: and {existing[name]:,} of neighbour {name!r}", flush=True)
            return
        print(f"seed: tenants have {existing} ({layout}), want {wanted} ({LAYOUT})", flush=True)
        await seed(conn, tenant, count, neighbours=neighbours)
    finally:
        await conn.close()


async def seed(
    conn: asyncpg.Connection,
    tenant: str,
    count: int,
    *,
    neighbours: dict[str, int] | None = None,
) -> None:
    """Empty the customer tables (the bench database is ours) and COPY `count` customers in,
    and each neighbour tenant's (other data, same shapes).

    The secondary indexes are dropped during the COPY and built again afterwards from their own
    definitions (pg_indexes), which is several times faster than maintaining them row by row.
    """
    started = time.perf_counter()
    await conn.execute("SET maintenance_work_mem = '512MB'")
    indexes = await conn.fetch(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        JOIN pg_class c ON c.relname = i.indexname
        JOIN pg_index x ON x.indexrelid = c.oid
        WHERE i.schemaname = 'customer' AND i.tablename = 'customers' AND NOT x.indisprimary
        """
    )
    tenants = [(tenant, count, SEED), *((name, n, SEED + i + 1) for i, (name, n) in
                                        enumerate((neighbours or {}).items()))]  # fmt: skip
    async with conn.transaction():
        # CASCADE: whatever else refers to customers goes too (the bench database is ours).
        await conn.execute("TRUNCATE customer.customers, customer.notes, customer.outbox CASCADE")
        for index in indexes:
            await conn.execute(f'DROP INDEX customer."{index["indexname"]}"')
        written = 0
        for chunk in _interleaved(tenants):
            await conn.copy_records_to_table(
                "customers", schema_name="customer", columns=COPY_COLUMNS, records=chunk
            )
            written += len(chunk)
            if written % 200_000 == 0:
                print(
                    f"seed: {written:>9,} rows  {time.perf_counter() - started:6.1f}s",
                    flush=True,
                )
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute(f"COMMENT ON TABLE customer.customers IS '{LAYOUT}'")
    elapsed = time.perf_counter() - started
    print(f"seed: {written:,} rows, {len(indexes)} indexes rebuilt  {elapsed:6.1f}s", flush=True)
    # VACUUM too: the visibility map lets counts read indexes only, as autovacuum would allow.
    await conn.execute("VACUUM ANALYZE customer.customers")
    print(f"seed: done (VACUUM ANALYZE)  {time.perf_counter() - started:6.1f}s", flush=True)
