"""Settings read once from the environment (and a `.env` file when present)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from environs import Env

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/customer_suite"
# Public (it is in this file): a service that uses it refuses to start unless
# ALLOW_INSECURE_DEV_DEFAULTS is set (shared.insecure_defaults).
DEFAULT_PSEUDONYM_KEY = "change-me-pseudonym-key"
# The login role of customer_service and impex_worker (shared/migrations/main/0008_*.sql).
APP_LOGIN_ROLE = "customer_suite_app"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the suite, typed. Built by `load_settings`; passed to each app factory."""

    database_url: str = DEFAULT_DATABASE_URL
    # Empty: the same database as DATABASE_URL.
    wishlist_database_url: str = ""
    # How customer_service and impex_worker log in for customer data: as a role that owns nothing
    # and cannot bypass row-level security. Empty: DATABASE_URL with the user customer_suite_app
    # and no password (see `app_dsn`).
    app_database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    gateway_port: int = 8080
    # The gateway's internal port: /metrics and the detailed /readyz, never exposed publicly.
    gateway_admin_port: int = 8084
    customer_service_port: int = 8081
    auth_service_port: int = 8082
    impex_worker_port: int = 8083
    bind_host: str = "127.0.0.1"
    # Where the services find each other (the gateway's upstreams, the JWKS source). Empty:
    # 127.0.0.1 on that service's port.
    customer_service_url: str = ""
    auth_service_url: str = ""
    # What clients see: the token issuer is `<public_base_url>/auth/realms/<tenant>`. Empty:
    # 127.0.0.1 on the gateway's port.
    public_base_url: str = ""
    token_audience: str = "customer-suite"
    token_ttl_seconds: int = 900
    token_leeway_seconds: int = 30
    jwks_min_refresh_seconds: float = 5.0
    # Every verifier refetches the JWKS this often (jittered): a retired key stops working then.
    jwks_refresh_seconds: float = 60.0
    # auth_service re-pushes the revocations kept in PostgreSQL to Redis this often.
    revocation_resync_seconds: float = 30.0
    impex_drop_dir: str = "/tmp/customer-suite-drop"
    # Keyed hash for wishlist pseudonyms: changing it breaks distinct-customer counts.
    pseudonym_key: str = DEFAULT_PSEUDONYM_KEY
    # A development machine may run with the public defaults of secret settings.
    allow_insecure_dev_defaults: bool = False
    db_pool_min: int = 1
    db_pool_max: int = 10
    upstream_connect_timeout: float = 2.0
    upstream_read_timeout: float = 30.0
    dependency_timeout: float = 2.0
    log_level: str = "INFO"
    # Gateway token buckets; per-tenant overrides live in Redis (`python -m gateway rate-limit`).
    rate_limit_tenant_per_second: float = 200.0
    rate_limit_tenant_burst: int = 400
    rate_limit_client_per_second: float = 100.0
    rate_limit_client_burst: int = 200
    # Peers whose X-Forwarded-For is believed (the gateway, load balancers), as CIDRs.
    trusted_proxy_cidrs: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    # Import uploads (customer_service): the body is spooled to disk before a database connection
    # is taken; a client that sends nothing for this long gets 408, and one tenant runs at most
    # this many uploads at once per process (more: 429).
    upload_read_timeout_seconds: float = 30.0
    upload_concurrency_per_tenant: int = 2
    # Retention (customer_service's periodic sweep): content of import batches never started,
    # and outbox rows once sent, are deleted after this many days.
    import_file_retention_days: float = 7.0
    outbox_sent_retention_days: float = 7.0
    retention_sweep_interval_seconds: float = 3600.0
    # Shopper accounts (API.md §10): session lifetime, and the argon2id cost of a password hash
    # (a login costs one hash: these set how many logins a core can verify per second). The
    # default is OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): ~30 ms of CPU a login.
    shopper_session_ttl_seconds: int = 7 * 24 * 3600
    shopper_password_time_cost: int = 2
    shopper_password_memory_kib: int = 19 * 1024
    shopper_password_parallelism: int = 1
    # Failed publishes of one outbox event (the broker refused it) before it is parked.
    outbox_max_attempts: int = 10

    def __post_init__(self) -> None:
        derived = {
            "wishlist_database_url": self.wishlist_database_url or self.database_url,
            "customer_service_url": self.customer_service_url
            or f"http://127.0.0.1:{self.customer_service_port}",
            "auth_service_url": self.auth_service_url
            or f"http://127.0.0.1:{self.auth_service_port}",
            "public_base_url": self.public_base_url or f"http://127.0.0.1:{self.gateway_port}",
            "log_level": self.log_level.upper(),
        }
        for name in ("customer_service_url", "auth_service_url", "public_base_url"):
            derived[name] = derived[name].rstrip("/")
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen: only while it is being made

    @property
    def app_dsn(self) -> str:
        """APP_DATABASE_URL, else DATABASE_URL logged in as customer_suite_app."""
        if self.app_database_url:
            return self.app_database_url
        parts = urlsplit(self.database_url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{APP_LOGIN_ROLE}@{host}"))

    @property
    def jwks_url(self) -> str:
        return f"{self.auth_service_url}/auth/certs"

    def issuer_for(self, tenant: str) -> str:
        return f"{self.public_base_url}/auth/realms/{tenant}"


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Read the settings from the environment; a `.env` file fills in what is not set.

    Each field of `Settings` is read from the variable of its name in upper case (`db_pool_max`
    from DB_POOL_MAX); what is not set keeps the field's default."""
    env = Env()
    if env_file is not None and Path(env_file).is_file():
        env.read_env(str(env_file), recurse=False, override=False)
    given = {
        field.name: _READERS[field.type](env, variable)
        for field, variable in _variables().items()
        if variable in os.environ
    }
    return Settings(**given)


def setting_variables() -> tuple[str, ...]:
    """Every environment variable the suite reads."""
    return tuple(_variables().values())


def _variables() -> dict[dataclasses.Field, str]:
    return {field: field.name.upper() for field in dataclasses.fields(Settings)}


_READERS: dict[str, Callable[[Env, str], Any]] = {
    "str": lambda env, name: env.str(name),
    "int": lambda env, name: env.int(name),
    "float": lambda env, name: env.float(name),
    "bool": lambda env, name: env.bool(name),
    "tuple[str, ...]": lambda env, name: tuple(env.list(name, subcast=str)),
}
