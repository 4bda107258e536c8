"""`make cluster`: the production topology of docker-compose.yml run for real on this machine, with
Temporal's server and UI server built from their Go modules (no Docker engine needed)."""
