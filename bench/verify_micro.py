"""Quick micro-benchmark of `TokenVerifier.verify` alone, no suite needed: µs per call.

    python -m bench.verify_micro [--iterations 10000]

A 2048-bit key (auth_service's size) served as JWKS over localhost HTTP, fetched once; then
  repeated  the same token again and again (what a client with a cached token sends)
  distinct  a fresh token on every call (nothing can be reused between calls)
Not named bench_*.py on purpose: `make bench` runs those against a whole suite.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from auth_service.signing import KEY_SIZE
from shared.app_factory import build_token_verifier
from shared.revocations import RevocationList
from shared.settings import Settings

TENANT = "bench"


def _token(settings: Settings, key: rsa.RSAPrivateKey, kid: str) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.issuer_for(TENANT), "sub": "bench-client", "aud": settings.token_audience,
        "iat": now, "exp": now + 900, "jti": uuid.uuid4().hex, "tenant": TENANT,
        "scope": "customers:read customers:write impex:read impex:write",
    }  # fmt: skip
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def _best_us(verify, tokens: list[str], repeats: int = 5) -> float:
    """Best of `repeats` passes over `tokens`, in µs per call (the usual micro-benchmark rule)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for token in tokens:
            await verify(token)
        best = min(best, time.perf_counter() - started)
    return best / len(tokens) * 1e6


async def main(iterations: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    kid = uuid.uuid4().hex
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "RS256"}
    app = web.Application()
    app.router.add_get("/auth/certs", lambda _request: web.json_response({"keys": [jwk]}))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    settings = Settings(auth_service_url=f"http://127.0.0.1:{port}")
    # A revocation list that is never synced: `is_revoked` is the same dict lookup either way.
    verifier = build_token_verifier(settings, RevocationList(settings.redis_url))
    try:
        await verifier.refresh()
        repeated = [_token(settings, key, kid)] * iterations
        # More distinct tokens than any claims cache holds, so every call verifies in full.
        distinct = [_token(settings, key, kid) for _ in range(iterations)]
        await _best_us(verifier.verify, repeated[:500], repeats=1)  # warm-up
        print(f"RS{KEY_SIZE}, {iterations} calls per pass, best of 5 passes")
        print(f"  repeated token: {await _best_us(verifier.verify, repeated):8.1f} µs/call")
        print(f"  distinct token: {await _best_us(verifier.verify, distinct):8.1f} µs/call")
    finally:
        await verifier.close()
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10000)
    asyncio.run(main(parser.parse_args().iterations))
