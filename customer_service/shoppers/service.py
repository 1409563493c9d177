"""Shopper account use cases (API.md §10).

Logins do the same work whatever goes wrong (one argon2 verification, a dummy one for an unknown
username) and fail with one and the same 401, so a caller cannot tell an unknown username from a
wrong password. Every failure is counted per username in Redis before the answer goes out.
The shopper's profile and addresses go through CustomerService: the same validation, merge
rules, no-op detection and customer.updated events as the retailer's own API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from customer_service import repository as customers_repository
from customer_service.service import CustomerService, Identifier, validate_customer
from customer_service.shoppers import repository
from customer_service.shoppers.limits import ShopperLimits
from customer_service.shoppers.passwords import PasswordHasher
from customer_service.shoppers.rules import (
    LoginFailed,
    SessionRequired,
    check_new_password,
    counted_login,
    load_request,
    may_log_in,
    shopper_fields,
)
from customer_service.shoppers.tokens import code_hash, new_code, new_token, same_hash, token_hash
from shared.amqp import SHOPPER_NOTIFICATIONS_EXCHANGE, SHOPPER_OTP_REQUESTED
from shared.customers.representation import render_customer
from shared.db import tenant_transaction
from shared.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from shared.events import event_envelope
from shared.orders import service as orders
from shared.schemas.shoppers import (
    AdminPasswordSchema,
    LoginSchema,
    OtpLoginSchema,
    OtpRequestSchema,
    PasswordChangeSchema,
    RegisterSchema,
)
from shared.timefmt import iso_ms, utcnow

OTP_LIFETIME = timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5

_REGISTER = RegisterSchema()
_LOGIN = LoginSchema()
_OTP_REQUEST = OtpRequestSchema()
_OTP_LOGIN = OtpLoginSchema()
_PASSWORD_CHANGE = PasswordChangeSchema()
_ADMIN_PASSWORD = AdminPasswordSchema()


class ShopperService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        customers: CustomerService,
        limits: ShopperLimits,
        hasher: PasswordHasher,
        *,
        session_ttl_seconds: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._pool = pool
        self._customers = customers
        self._limits = limits
        self._hasher = hasher
        self._session_ttl = timedelta(seconds=session_ttl_seconds)
        self._clock = clock

    # --- accounts

    async def register(self, tenant: str, body: object) -> dict[str, Any]:
        """A new customer with a login; an email a live customer holds is a 409 on username."""
        request = load_request(_REGISTER, body)
        username, password = request["username"], request["password"]
        check_new_password(password, username, "password")
        profile = shopper_fields(request["customer"] or {})
        try:
            validate_customer({**profile, "email": username})
        except InvalidInput as exc:
            errors = {
                ("username" if key == "email" else f"customer.{key}"): messages
                for key, messages in (exc.errors or {}).items()
            }
            raise InvalidInput("The registration is not valid.", errors=errors) from None
        password_hash = await self._hasher.hash(password)
        try:
            return await self._customers.create(
                tenant,
                {**profile, "email": username},
                and_then=lambda conn, record, now: repository.set_password(
                    conn, tenant, record["id"], password_hash, now
                ),
            )
        except Conflict as exc:
            if exc.errors and "email" in exc.errors:
                raise Conflict(
                    "A customer already has this email; the retailer can give it a login.",
                    errors={"username": ["already in use"]},
                ) from None
            raise

    # --- logins

    @counted_login("password")
    async def login(self, tenant: str, body: object) -> dict[str, Any]:
        request = load_request(_LOGIN, body)
        username, password = request["username"], request["password"]
        await self._limits.check_login(tenant, username)
        async with tenant_transaction(self._pool, tenant) as conn:
            account = await repository.login_by_email(conn, tenant, username)
        stored = account["password_hash"] if account is not None else None
        # Always exactly one verification: against the stored hash or a dummy one.
        if not await self._hasher.verify(stored, password) or not may_log_in(account):
            await self._fail(tenant, username)
        rehash = await self._hasher.hash(password) if self._hasher.needs_rehash(stored) else None
        now = self._clock()
        token = new_token()
        async with tenant_transaction(self._pool, tenant) as conn:
            started = await self._session_if_unchanged(
                conn, tenant, account["id"], stored, rehash, token, now
            )
        if not started:
            await self._fail(tenant, username)
        await self._limits.clear_failures(tenant, username)
        return self._token_body(tenant, token, account["id"], now)

    async def _session_if_unchanged(
        self,
        conn: asyncpg.Connection,
        tenant: str,
        customer_id: uuid.UUID,
        verified_hash: str,
        rehash: str | None,
        token: str,
        now: datetime,
    ) -> bool:
        """Start the session only if the password just verified is still the customer's and
        the customer may still log in (a change, reset or delete may have committed while the
        hash was being verified)."""
        if await repository.lock_password_hash(conn, tenant, customer_id) != verified_hash:
            return False
        fresh = await repository.login_by_id(conn, tenant, customer_id)
        if fresh is None or not may_log_in(fresh):
            return False
        if rehash is not None:  # the cost settings changed since this hash was made
            await repository.update_password(conn, tenant, customer_id, rehash, now)
        await self._start_session(conn, tenant, token, customer_id, now)
        return True

    async def request_otp(self, tenant: str, body: object) -> dict[str, Any]:
        """Always 202 with a challenge token: an unknown username gets one that never works."""
        request = load_request(_OTP_REQUEST, body)
        username, channel = request["username"], request["channel"]
        await self._limits.count_otp_send(tenant, username)
        now = self._clock()
        expires_at = now + OTP_LIFETIME
        challenge = new_token()
        async with tenant_transaction(self._pool, tenant) as conn:
            account = await self._account_by_username(conn, tenant, username)
            if account is not None and account["password_hash"] is not None and may_log_in(account):
                code = new_code()
                challenge_hash = token_hash(challenge)
                await repository.insert_otp(
                    conn,
                    tenant,
                    challenge_hash,
                    account["id"],
                    code_hash(challenge_hash, code),
                    now,
                    expires_at,
                )
                event = event_envelope(
                    SHOPPER_OTP_REQUESTED,
                    tenant=tenant,
                    now=now,
                    customer={"id": str(account["id"])},
                    channel=channel,
                    code=code,
                    expiresAt=iso_ms(expires_at),
                )
                await customers_repository.add_outbox_event(
                    conn, tenant, event, exchange=SHOPPER_NOTIFICATIONS_EXCHANGE
                )
        return {"otptoken": challenge, "expires_at": iso_ms(expires_at)}

    @counted_login("otp")
    async def login_with_otp(
        self, tenant: str, challenge: str | None, body: object
    ) -> dict[str, Any]:
        request = load_request(_OTP_LOGIN, body)
        username, code = request["username"], request["otp"]
        await self._limits.check_login(tenant, username)
        now = self._clock()
        token = new_token()
        challenge_hash = token_hash(challenge or "")
        async with tenant_transaction(self._pool, tenant) as conn:
            customer_id = await self._redeem_otp(conn, tenant, username, challenge_hash, code, now)
            if customer_id is not None:
                await self._start_session(conn, tenant, token, customer_id, now)
        if customer_id is None:
            await self._fail(tenant, username)
        await self._limits.clear_failures(tenant, username)
        return self._token_body(tenant, token, customer_id, now)

    async def _redeem_otp(
        self,
        conn: asyncpg.Connection,
        tenant: str,
        username: str,
        challenge_hash: bytes,
        code: str,
        now: datetime,
    ) -> uuid.UUID | None:
        """The customer the code logs in, or None. A wrong code counts against the challenge
        (committed with the transaction); the right one spends it."""
        otp = await repository.lock_otp(conn, tenant, challenge_hash)
        if (
            otp is None
            or otp["used_at"] is not None
            or otp["expires_at"] <= now
            or otp["attempts"] >= OTP_MAX_ATTEMPTS
        ):
            return None
        account = await self._account_by_username(conn, tenant, username)
        if account is None or account["id"] != otp["customer_id"]:
            await repository.count_otp_attempt(conn, tenant, challenge_hash)
            return None
        if not same_hash(otp["code_hash"], code_hash(challenge_hash, code)):
            await repository.count_otp_attempt(conn, tenant, challenge_hash)
            return None
        await repository.use_otp(conn, tenant, challenge_hash, now)
        # The account must still have its login (shared lock: a delete or reset waits for us).
        if await repository.lock_password_hash(conn, tenant, account["id"]) is None:
            return None
        return account["id"] if may_log_in(account) else None

    @staticmethod
    async def _account_by_username(
        conn: asyncpg.Connection, tenant: str, username: str
    ) -> asyncpg.Record | None:
        """The live customer the username names: by email, else by a mobile only one holds."""
        account = await repository.login_by_email(conn, tenant, username)
        if account is None and "@" not in username:
            account = await repository.login_by_mobile(conn, tenant, username.strip())
        return account

    async def _fail(self, tenant: str, username: str) -> None:
        await self._limits.record_failure(tenant, username)
        raise LoginFailed(tenant)

    async def _start_session(
        self,
        conn: asyncpg.Connection,
        tenant: str,
        token: str,
        customer_id: uuid.UUID,
        now: datetime,
    ) -> None:
        await repository.insert_session(
            conn, tenant, token_hash(token), customer_id, now, now + self._session_ttl
        )

    def _token_body(
        self, tenant: str, token: str, customer_id: uuid.UUID, now: datetime
    ) -> dict[str, Any]:
        return {
            "Token": {
                "AccessToken": token,
                "issued_at": iso_ms(now),
                "expires_at": iso_ms(now + self._session_ttl),
                "UserId": str(customer_id),
                "MerchantId": tenant,
            }
        }

    # --- sessions

    async def logout(self, tenant: str, access_token: str | None) -> None:
        """Ends the session; an unknown or ended one is already logged out."""
        if not access_token:
            raise SessionRequired(tenant)
        async with tenant_transaction(self._pool, tenant) as conn:
            await repository.delete_session(conn, tenant, token_hash(access_token))

    async def session(self, tenant: str, access_token: str | None) -> dict[str, Any]:
        found = await self._live_session(tenant, access_token)
        if found is None:
            return {"SessionValid": False}
        return {
            "SessionValid": True,
            "UserId": str(found["customer_id"]),
            "issued_at": iso_ms(found["issued_at"]),
            "expires_at": iso_ms(found["expires_at"]),
        }

    async def _shopper_id(self, tenant: str, access_token: str | None) -> uuid.UUID:
        found = await self._live_session(tenant, access_token)
        if found is None:
            raise SessionRequired(tenant)
        return found["customer_id"]

    async def _live_session(self, tenant: str, access_token: str | None) -> asyncpg.Record | None:
        if not access_token:
            return None
        async with tenant_transaction(self._pool, tenant) as conn:
            return await repository.fetch_session(
                conn, tenant, token_hash(access_token), self._clock()
            )

    # --- the shopper's own customer

    async def me(self, tenant: str, access_token: str | None) -> dict[str, Any]:
        if access_token:
            now = self._clock()
            async with tenant_transaction(self._pool, tenant) as conn:
                record = await repository.fetch_session_customer(
                    conn, tenant, token_hash(access_token), now
                )
                if record is not None:
                    spend = await orders.spend_of(conn, tenant, [record["id"]], now)
                    return render_customer(record, spend[record["id"]])
        raise SessionRequired(tenant)

    async def update_me(
        self, tenant: str, access_token: str | None, body: object
    ) -> dict[str, Any]:
        customer_id = await self._shopper_id(tenant, access_token)
        return await self._customers.update(
            tenant, Identifier("id", str(customer_id)), shopper_fields(body)
        )

    async def my_addresses(self, tenant: str, access_token: str | None) -> list[dict[str, Any]]:
        return (await self.me(tenant, access_token))["addresses"]

    async def add_my_address(
        self, tenant: str, access_token: str | None, body: object
    ) -> dict[str, Any]:
        customer_id = await self._shopper_id(tenant, access_token)
        return await self._customers.add_address(tenant, str(customer_id), body)

    async def update_my_address(
        self, tenant: str, access_token: str | None, address_id: str, body: object
    ) -> dict[str, Any]:
        customer_id = await self._shopper_id(tenant, access_token)
        return await self._customers.update_address(tenant, str(customer_id), address_id, body)

    async def delete_my_address(
        self, tenant: str, access_token: str | None, address_id: str
    ) -> dict[str, Any]:
        customer_id = await self._shopper_id(tenant, access_token)
        return await self._customers.delete_address(tenant, str(customer_id), address_id)

    # --- passwords

    async def change_password(self, tenant: str, access_token: str | None, body: object) -> None:
        """The shopper's own change: the current password first; every other session ends."""
        request = load_request(_PASSWORD_CHANGE, body)
        customer_id = await self._shopper_id(tenant, access_token)
        account = await self._account(tenant, customer_id)
        username = account["email"]
        await self._limits.check_login(tenant, username)
        stored = account["password_hash"]
        if not await self._hasher.verify(stored, request["password"]):
            await self._limits.record_failure(tenant, username)
            raise Forbidden(
                "The current password is not right.",
                errors={"password": ["Does not match the current password."]},
            )
        check_new_password(request["newPassword"], username, "newPassword")
        new_hash = await self._hasher.hash(request["newPassword"])
        async with tenant_transaction(self._pool, tenant) as conn:
            current = await repository.lock_password_hash(
                conn, tenant, customer_id, for_update=True
            )
            if current != stored:
                raise Conflict(
                    "The password was changed meanwhile; try again.",
                    errors={"password": ["Changed meanwhile."]},
                )
            await repository.update_password(conn, tenant, customer_id, new_hash, self._clock())
            await repository.delete_sessions(
                conn, tenant, customer_id, keep=token_hash(access_token or "")
            )

    async def reset_password(self, tenant: str, raw_customer_id: str, body: object) -> None:
        """Admin: set the customer's password (giving it a login if it had none); every session
        of that customer ends."""
        request = load_request(_ADMIN_PASSWORD, body)
        customer_id = Identifier("id", raw_customer_id).lookup_value()
        account = await self._account(tenant, customer_id)
        check_new_password(request["newPassword"], account["email"], "newPassword")
        new_hash = await self._hasher.hash(request["newPassword"])
        async with tenant_transaction(self._pool, tenant) as conn:
            # Locked: a delete in flight either went first (404) or waits for this reset.
            if (
                await customers_repository.fetch_by(
                    conn, tenant, "id", customer_id, for_update=True
                )
                is None
            ):
                raise NotFound("No such customer.")
            await repository.set_password(conn, tenant, customer_id, new_hash, self._clock())
            await repository.delete_sessions(conn, tenant, customer_id)

    async def end_sessions(self, tenant: str, raw_customer_id: str) -> None:
        """Admin: log the customer out everywhere."""
        customer_id = Identifier("id", raw_customer_id).lookup_value()
        async with tenant_transaction(self._pool, tenant) as conn:
            if await customers_repository.fetch_by(conn, tenant, "id", customer_id) is None:
                raise NotFound("No such customer.")
            await repository.delete_sessions(conn, tenant, customer_id)

    async def _account(self, tenant: str, customer_id: uuid.UUID) -> asyncpg.Record:
        """The live customer's login facts (email, state, password hash); 404 when gone."""
        async with tenant_transaction(self._pool, tenant) as conn:
            account = await repository.login_by_id(conn, tenant, customer_id)
        if account is None:
            raise NotFound("No such customer.")
        return account
