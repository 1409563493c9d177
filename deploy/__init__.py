"""Deployment assets; `deploy.local` is the dev-machine tooling (make run, make test, make fuzz)."""
