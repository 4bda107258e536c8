#!/bin/sh
# One-shot job (admin-tools image, or `make cluster` with the built tool): creates Temporal's two
# databases on PostgreSQL and brings their schemas to the versions this server release ships. Safe to
# run again: it only applies what is missing.
set -eu
SCHEMA_DIR=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}
sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" --port "$DB_PORT" --user "$POSTGRES_USER" --password "$POSTGRES_PWD" "$@"; }
for db in temporal temporal_visibility; do
    sql --db "$db" create || true # exists already on a second run
done
sql --db temporal setup-schema -v 0.0
sql --db temporal update-schema -d "$SCHEMA_DIR/temporal/versioned"
sql --db temporal_visibility setup-schema -v 0.0
sql --db temporal_visibility update-schema -d "$SCHEMA_DIR/visibility/versioned"
