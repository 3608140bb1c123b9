#!/usr/bin/env bash
# PgBouncer in transaction mode in front of the local PostgreSQL (127.0.0.1:5432): how Neon's
# `-pooler` endpoint, Supabase and RDS Proxy hand out connections (each transaction may get a
# different server connection; nothing of a session survives between transactions).
#
#   .ci/pgbouncer.sh start [PORT]   start it (a free port if none given); prints PGBOUNCER_PORT=N
#   .ci/pgbouncer.sh stop           stop it
#
# e.g. eval "$(.ci/pgbouncer.sh start)"
#      DATABASE_URL=postgres://postgres@127.0.0.1:$PGBOUNCER_PORT/mydb \
#      DIRECT_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mydb python manage.py loadtest ...
#      .ci/pgbouncer.sh stop
# Debian's package (apt-get install pgbouncer): 1.18, without protocol-level prepared statements.
set -euo pipefail

DIR="${PGBOUNCER_DIR:-/tmp/pgbouncer-ci}"
UPSTREAM_HOST="${PGBOUNCER_UPSTREAM_HOST:-127.0.0.1}"
UPSTREAM_PORT="${PGBOUNCER_UPSTREAM_PORT:-5432}"

stop() {
  if [ -f "$DIR/pgbouncer.pid" ]; then
    local pid
    pid="$(cat "$DIR/pgbouncer.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$DIR/pgbouncer.pid"
  fi
}

case "${1:-}" in
  start)
    command -v pgbouncer >/dev/null || PATH="$PATH:/usr/sbin"
    stop
    port="${2:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
    mkdir -p "$DIR"
    echo '"postgres" ""' > "$DIR/userlist.txt"
    cat > "$DIR/pgbouncer.ini" <<INI
[databases]
* = host=$UPSTREAM_HOST port=$UPSTREAM_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
pidfile = $DIR/pgbouncer.pid
logfile = $DIR/pgbouncer.log
INI
    # PgBouncer refuses to run as root: it drops to the postgres user.
    chown -R postgres "$DIR" 2>/dev/null || true
    if [ "$(id -u)" = "0" ]; then
      pgbouncer -d -u postgres "$DIR/pgbouncer.ini"
    else
      pgbouncer -d "$DIR/pgbouncer.ini"
    fi
    for _ in $(seq 1 50); do
      pg_isready -h 127.0.0.1 -p "$port" -q 2>/dev/null && break
      sleep 0.1
    done
    pg_isready -h 127.0.0.1 -p "$port" -q || { cat "$DIR/pgbouncer.log" >&2; exit 1; }
    echo "PGBOUNCER_PORT=$port"
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: $0 start [PORT] | stop" >&2
    exit 2
    ;;
esac
