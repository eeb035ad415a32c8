#!/usr/bin/env bash
# Installs (Debian packages) and starts PostgreSQL and Redis on loopback, idempotently.
# Prints nothing but progress; exports nothing. The URLs it sets up:
#   postgresql+asyncpg://saas:saas@127.0.0.1:5432/saas
#   redis://127.0.0.1:6379/0
# Usage: scripts/services.sh [postgres] [redis] [wrk]   (postgres and redis when no
# argument is given; wrk is the benchmarks' load generator, installed only)
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(postgres redis)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

wait_for() {  # wait_for <seconds> <command...>: poll until the command succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 0.2
  done
}

start_postgres() {
  apt_install postgresql
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" && $4=="online"' | grep -q .; then
    echo "starting PostgreSQL $version"
    $SUDO pg_ctlcluster "$version" main start
  fi
  wait_for 30 pg_isready -h 127.0.0.1 -p 5432
  as_postgres psql -q -v ON_ERROR_STOP=1 <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'saas') THEN
    CREATE ROLE saas LOGIN CREATEDB PASSWORD 'saas';
  END IF;
END $$;
-- The test suite drops its per-test databases WITH (FORCE), which may have to end an
-- autovacuum worker that visits a freshly cloned database.
GRANT pg_signal_backend TO saas;
SQL
  if ! as_postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname='saas'" | grep -q 1; then
    as_postgres createdb -O saas saas
  fi
}

start_redis() {
  apt_install redis-server
  if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
  fi
  wait_for 15 redis-cli -h 127.0.0.1 -p 6379 ping
}

for service in "${want[@]}"; do
  case "$service" in
    postgres) start_postgres ;;
    redis) start_redis ;;
    wrk) apt_install wrk ;;
    *) echo "unknown service: $service" >&2; exit 2 ;;
  esac
done
