#!/bin/sh
# Run by the postgres image on a new volume (/docker-entrypoint-initdb.d): creates the
# app database's own role (deploy/app-role.psql) with FLOWGATE_APP_DB_PASSWORD.
set -eu
psql -v ON_ERROR_STOP=1 -v app_password="$FLOWGATE_APP_DB_PASSWORD" \
  --username "$POSTGRES_USER" --dbname postgres -f /etc/flowgate/app-role.psql
