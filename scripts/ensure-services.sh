#!/usr/bin/env bash
# Makes sure the services the integration tests talk to are up on loopback:
#   RabbitMQ on 127.0.0.1:5672 with the rabbitmq_amqp1_0 plugin, Mosquitto on 127.0.0.1:1883,
#   PostgreSQL on 127.0.0.1:5432 (user postgres, database test; the trace store's tests).
#   nft (nftables), which the cluster partition test needs (optional: the test skips without it).
# Installs and starts them when missing and we are root on Debian; otherwise says what is missing.
set -euo pipefail

AMQP_PORT=${LINEGATE_AMQP_PORT:-5672}
MQTT_PORT=${LINEGATE_MQTT_PORT:-1883}
PG_PORT=${LINEGATE_PG_PORT:-5432}

say() { printf 'ensure-services: %s\n' "$*" >&2; }

port_open() {  # port_open PORT -> 0 when something accepts TCP on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {  # wait_port PORT NAME SECONDS
  local deadline=$((SECONDS + $3))
  until port_open "$1"; do
    if ((SECONDS >= deadline)); then
      say "$2 did not open 127.0.0.1:$1 within $3 s"
      return 1
    fi
    sleep 1
  done
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  say "installing $* from Debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()

# --- RabbitMQ -------------------------------------------------------------------------------
if ! command -v rabbitmq-server >/dev/null 2>&1 && ! port_open "$AMQP_PORT"; then
  if can_install; then apt_install rabbitmq-server; else missing+=("RabbitMQ (apt-get install rabbitmq-server)"); fi
fi
if command -v rabbitmq-server >/dev/null 2>&1; then
  if ! port_open "$AMQP_PORT"; then
    if [ "$(id -u)" = 0 ]; then
      say "starting RabbitMQ"
      rabbitmq-server -detached >/dev/null 2>&1 || true
      wait_port "$AMQP_PORT" RabbitMQ 120 || missing+=("RabbitMQ did not start")
    else
      missing+=("RabbitMQ is installed but not running (start it: rabbitmq-server -detached)")
    fi
  fi
  if port_open "$AMQP_PORT"; then
    # The AMQP 1.0 plugin serves CFX SDK clients on the same port; enabling it is idempotent.
    if ! rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_amqp1_0; then
      say "enabling rabbitmq_amqp1_0"
      rabbitmq-plugins enable rabbitmq_amqp1_0 >/dev/null || missing+=("rabbitmq_amqp1_0 plugin (rabbitmq-plugins enable rabbitmq_amqp1_0)")
    fi
    # A node left stopped by an interrupted outage test keeps its port closed; start_app is idempotent.
    rabbitmqctl -q start_app >/dev/null 2>&1 || true
  fi
fi

# --- Mosquitto ------------------------------------------------------------------------------
if ! port_open "$MQTT_PORT"; then
  if ! command -v mosquitto >/dev/null 2>&1; then
    if can_install; then apt_install mosquitto; else missing+=("Mosquitto (apt-get install mosquitto)"); fi
  fi
  if command -v mosquitto >/dev/null 2>&1; then
    say "starting Mosquitto"
    if [ -f /etc/mosquitto/mosquitto.conf ]; then
      mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
    else
      mosquitto -d -p "$MQTT_PORT" || true
    fi
    wait_port "$MQTT_PORT" Mosquitto 30 || missing+=("Mosquitto did not start")
  fi
fi

# --- PostgreSQL -----------------------------------------------------------------------------
pg_cluster() {  # the first cluster pg_lsclusters lists, as "VERSION NAME"
  pg_lsclusters --no-header 2>/dev/null | awk 'NR == 1 {print $1, $2}'
}
if ! port_open "$PG_PORT"; then
  installed_here=0
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    if can_install; then apt_install postgresql; installed_here=1; else missing+=("PostgreSQL (apt-get install postgresql)"); fi
  fi
  if command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    read -r pg_version pg_name <<<"$(pg_cluster)"
    if [ -n "${pg_version:-}" ]; then
      if ((installed_here)); then
        # A cluster we just created: the tests connect as postgres over TCP without a password.
        hba="/etc/postgresql/$pg_version/$pg_name/pg_hba.conf"
        sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
      fi
      say "starting PostgreSQL $pg_version/$pg_name"
      pg_ctlcluster "$pg_version" "$pg_name" start || true
      wait_port "$PG_PORT" PostgreSQL 60 || missing+=("PostgreSQL did not start")
    else
      missing+=("PostgreSQL is installed but has no cluster (pg_createcluster)")
    fi
  elif command -v pg_lsclusters >/dev/null 2>&1; then
    missing+=("PostgreSQL is installed but not running (pg_ctlcluster VERSION main start)")
  fi
  if port_open "$PG_PORT"; then
    # The tests use the database "test"; create it once (an existing one is kept).
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\"" 2>/dev/null | grep -q 1 \
      || su postgres -c "createdb test" 2>/dev/null || true
  fi
fi

# --- nftables -------------------------------------------------------------------------------
# tests/cluster/test_partition.py cuts a test node's Erlang distribution traffic with nft; it is
# skipped without it, so a machine that cannot install it still runs everything else.
if ! command -v nft >/dev/null 2>&1; then
  if can_install; then apt_install nftables || say "nftables did not install: the partition test will be skipped"
  else say "nft is missing (apt-get install nftables): the partition test will be skipped"; fi
fi

if ((${#missing[@]})); then
  say "the integration tests need services that are not available:"
  for m in "${missing[@]}"; do say "  - $m"; done
  exit 1
fi
say "RabbitMQ on 127.0.0.1:$AMQP_PORT (with AMQP 1.0), Mosquitto on 127.0.0.1:$MQTT_PORT and PostgreSQL on 127.0.0.1:$PG_PORT are up"
