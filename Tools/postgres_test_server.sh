#!/usr/bin/env bash
# A private, throw-away PostgreSQL server for the tests (and CI): a fresh cluster in DIR listening only on a
# Unix socket in DIR (no TCP port, so parallel runs never collide), trust authentication for user e3d.
#   Tools/postgres_test_server.sh start DIR   # prints the storage URL, e.g. postgresql:///postgres?host=DIR&port=5432&user=e3d
#   Tools/postgres_test_server.sh stop DIR    # stops the server (DIR is left for the caller to delete)
# As root, initdb and the server run as the 'postgres' user (initdb refuses root).
# Needs Debian's 'postgresql' package (server binaries in /usr/lib/postgresql/<version>/bin).
set -euo pipefail
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  if command -v initdb >/dev/null 2>&1; then
    bin=$(dirname "$(command -v initdb)")
  else
    echo "postgres_test_server: PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's 'postgresql' package (Tools/setup does)" >&2
    exit 3
  fi
fi
as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
port=5432
case "$cmd" in
  start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then
      chown postgres "$dir"
      chmod 755 "$dir"
    fi
    if ! as_server_user "$bin/initdb" -D "$dir/data" -A trust -U e3d -E UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
      echo "postgres_test_server: initdb failed:" >&2
      cat "$dir/initdb.log" >&2
      exit 1
    fi
    if ! as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-k $dir -p $port -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c max_connections=100" \
        start >"$dir/pg_ctl.log" 2>&1 </dev/null; then
      echo "postgres_test_server: the server did not start:" >&2
      cat "$dir/pg_ctl.log" "$dir/server.log" >&2
      exit 1
    fi
    echo "postgresql:///postgres?host=$dir&port=$port&user=e3d"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
