"""Settings read once from the environment (and a `.env` file when present)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
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
    wishlist_database_url: str = DEFAULT_DATABASE_URL
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
    # Where the services find each other (the gateway's upstreams, the JWKS source).
    customer_service_url: str = "http://127.0.0.1:8081"
    auth_service_url: str = "http://127.0.0.1:8082"
    # What clients see: the token issuer is `<public_base_url>/auth/realms/<tenant>`.
    public_base_url: str = "http://127.0.0.1:8080"
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
    """Read the settings from the environment; a `.env` file fills in what is not set."""
    env = Env()
    if env_file is not None and Path(env_file).is_file():
        env.read_env(str(env_file), recurse=False, override=False)
    database_url = env.str("DATABASE_URL", DEFAULT_DATABASE_URL)
    customer_port = env.int("CUSTOMER_SERVICE_PORT", 8081)
    auth_port = env.int("AUTH_SERVICE_PORT", 8082)
    gateway_port = env.int("GATEWAY_PORT", 8080)
    return Settings(
        database_url=database_url,
        wishlist_database_url=env.str("WISHLIST_DATABASE_URL", database_url),
        app_database_url=env.str("APP_DATABASE_URL", ""),
        redis_url=env.str("REDIS_URL", "redis://127.0.0.1:6379/0"),
        amqp_url=env.str("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        gateway_port=gateway_port,
        gateway_admin_port=env.int("GATEWAY_ADMIN_PORT", 8084),
        customer_service_port=customer_port,
        auth_service_port=auth_port,
        impex_worker_port=env.int("IMPEX_WORKER_PORT", 8083),
        bind_host=env.str("BIND_HOST", "127.0.0.1"),
        customer_service_url=env.str(
            "CUSTOMER_SERVICE_URL", f"http://127.0.0.1:{customer_port}"
        ).rstrip("/"),
        auth_service_url=env.str("AUTH_SERVICE_URL", f"http://127.0.0.1:{auth_port}").rstrip("/"),
        public_base_url=env.str("PUBLIC_BASE_URL", f"http://127.0.0.1:{gateway_port}").rstrip("/"),
        token_audience=env.str("TOKEN_AUDIENCE", "customer-suite"),
        token_ttl_seconds=env.int("TOKEN_TTL_SECONDS", 900),
        token_leeway_seconds=env.int("TOKEN_LEEWAY_SECONDS", 30),
        jwks_min_refresh_seconds=env.float("JWKS_MIN_REFRESH_SECONDS", 5.0),
        jwks_refresh_seconds=env.float("JWKS_REFRESH_SECONDS", 60.0),
        revocation_resync_seconds=env.float("REVOCATION_RESYNC_SECONDS", 30.0),
        impex_drop_dir=env.str("IMPEX_DROP_DIR", "/tmp/customer-suite-drop"),
        pseudonym_key=env.str("PSEUDONYM_KEY", DEFAULT_PSEUDONYM_KEY),
        allow_insecure_dev_defaults=env.bool("ALLOW_INSECURE_DEV_DEFAULTS", False),
        db_pool_min=env.int("DB_POOL_MIN", 1),
        db_pool_max=env.int("DB_POOL_MAX", 10),
        upstream_connect_timeout=env.float("UPSTREAM_CONNECT_TIMEOUT", 2.0),
        upstream_read_timeout=env.float("UPSTREAM_READ_TIMEOUT", 30.0),
        dependency_timeout=env.float("DEPENDENCY_TIMEOUT", 2.0),
        log_level=env.str("LOG_LEVEL", "INFO").upper(),
        rate_limit_tenant_per_second=env.float("RATE_LIMIT_TENANT_PER_SECOND", 200.0),
        rate_limit_tenant_burst=env.int("RATE_LIMIT_TENANT_BURST", 400),
        rate_limit_client_per_second=env.float("RATE_LIMIT_CLIENT_PER_SECOND", 100.0),
        rate_limit_client_burst=env.int("RATE_LIMIT_CLIENT_BURST", 200),
        trusted_proxy_cidrs=tuple(
            env.list("TRUSTED_PROXY_CIDRS", ["127.0.0.0/8", "::1/128"], subcast=str)
        ),
        upload_read_timeout_seconds=env.float("UPLOAD_READ_TIMEOUT_SECONDS", 30.0),
        upload_concurrency_per_tenant=env.int("UPLOAD_CONCURRENCY_PER_TENANT", 2),
        import_file_retention_days=env.float("IMPORT_FILE_RETENTION_DAYS", 7.0),
        outbox_sent_retention_days=env.float("OUTBOX_SENT_RETENTION_DAYS", 7.0),
        retention_sweep_interval_seconds=env.float("RETENTION_SWEEP_INTERVAL_SECONDS", 3600.0),
        shopper_session_ttl_seconds=env.int("SHOPPER_SESSION_TTL_SECONDS", 7 * 24 * 3600),
        shopper_password_time_cost=env.int("SHOPPER_PASSWORD_TIME_COST", 2),
        shopper_password_memory_kib=env.int("SHOPPER_PASSWORD_MEMORY_KIB", 19 * 1024),
        shopper_password_parallelism=env.int("SHOPPER_PASSWORD_PARALLELISM", 1),
        outbox_max_attempts=env.int("OUTBOX_MAX_ATTEMPTS", 10),
    )
