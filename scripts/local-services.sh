#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and RabbitMQ answer on their default local ports.
# A service that is installed but stopped is started; one that is not installed
# is installed from Debian's packages when we are root, otherwise we stop with
# a message naming what is missing. Sourced by scripts/test.sh; runnable alone.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_updated=""
install_pkg() {
  if ! command -v apt-get >/dev/null; then
    echo "error: $1 is not installed and this machine has no apt-get; install $1 and re-run" >&2; exit 1
  fi
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

wait_port() { # name port seconds
  for _ in $(seq 1 "$3"); do port_open "$2" && return 0; sleep 1; done
  echo "error: $1 did not come up on 127.0.0.1:$2 within $3 s" >&2; exit 1
}

ensure_postgres() {
  port_open 5432 && return 0
  command -v pg_ctlcluster >/dev/null || install_pkg postgresql
  local version; version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port PostgreSQL 5432 60
  # Tests connect as postgres without a password over TCP.
  if ! psql -h 127.0.0.1 -U postgres -Atc 'select 1' >/dev/null 2>&1; then
    local hba; hba=$(ls /etc/postgresql/"$version"/main/pg_hba.conf)
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
}

ensure_redis() {
  port_open 6379 && return 0
  command -v redis-server >/dev/null || install_pkg redis-server
  echo "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port Redis 6379 30
}

ensure_rabbitmq() {
  port_open 5672 && return 0
  command -v rabbitmq-server >/dev/null || install_pkg rabbitmq-server
  echo "starting RabbitMQ"
  as_root rabbitmq-server -detached
  wait_port RabbitMQ 5672 90
}

ensure_services() {
  ensure_postgres
  ensure_redis
  ensure_rabbitmq
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_services
  echo "PostgreSQL, Redis and RabbitMQ are up"
fi
