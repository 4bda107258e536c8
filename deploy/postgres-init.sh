#!/bin/sh
# Runs once, when the PostgreSQL volume is first created: the case store's own role and database, apart
# from Temporal's (the temporal-schema job creates temporal and temporal_visibility).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE cases LOGIN PASSWORD '${CASES_DB_PASSWORD}';
CREATE DATABASE cases OWNER cases;
SQL
