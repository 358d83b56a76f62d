#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and CI (Debian's postgresql package).
#
#   scripts/postgres.sh install    apt-get install postgresql when no initdb is found
#                                  (as root, as CI runs; elsewhere it only says what to do),
#                                  without the package's own cluster on port 5432
#   scripts/postgres.sh available  exit 0 when initdb is found, 1 otherwise (prints nothing)
#   scripts/postgres.sh start DIR  create a cluster in DIR (absent or empty), start it and
#                                  print one line on stdout: the URL the tests use,
#                                  postgresql://commonplace@127.0.0.1:PORT/commonplace
#   scripts/postgres.sh stop DIR   stop that server at once and remove DIR
#
# The server listens on 127.0.0.1 only, on a free port this script picks, and on a
# Unix socket in DIR. Socket connections are trusted (the script's own set-up); TCP
# connections need a password (scram-sha-256), so tests can try a wrong one. The role
# `commonplace` has the password `commonplace-test` (never in the URL: tests pass it
# with PGPASSWORD) and owns the database `commonplace`. fsync is off: the data is
# thrown away. The server refuses to run as root, so under root the cluster belongs
# to the system user `postgres` (created when absent) and DIR is given to it.
set -euo pipefail

PG_ROLE=commonplace
PG_PASSWORD=commonplace-test
PG_DATABASE=commonplace
MARKER=.commonplace-postgres
# Where Debian puts each server version (another root lets a test see "not installed").
LIB_ROOT=${COMMONPLACE_POSTGRES_LIB:-/usr/lib/postgresql}

die() {
  echo "error: $*" >&2
  exit 1
}

# The newest installed server's bin folder, found by glob (the version is Debian's choice).
bin_dir() {
  local dir found=""
  for dir in "$LIB_ROOT"/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && found="$found$dir"$'\n'
  done
  [ -n "$found" ] || return 1
  printf '%s' "$found" | sort -V | tail -n 1
}

install_server() {
  bin_dir >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "PostgreSQL is not installed; run: apt-get install -y --no-install-recommends postgresql"
  fi
  echo "installing Debian's postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The package would otherwise create and start a cluster of its own on port 5432,
  # which nothing here uses or stops.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/no-main-cluster.conf
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  bin_dir >/dev/null || die "postgresql was installed but no $LIB_ROOT/*/bin/initdb is there"
}

# Who owns and runs the cluster: this user, or a system user when this is root.
server_user() {
  if [ "$(id -u)" -ne 0 ]; then
    id -un
    return
  fi
  if ! id -u postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres ||
      die "could not create the system user postgres to run the server"
  fi
  echo postgres
}

# Run a command as the server's user, from DIR (the caller's folder may be private to root).
as_user() {
  local user=$1
  shift
  if [ "$user" = "$(id -un)" ]; then
    (cd "$dir" && "$@")
  else
    (cd "$dir" && runuser -u "$user" -- "$@")
  fi
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

start() {
  local port attempt url
  # bin, user and made_dir stay global: the clean-up trap reads them.
  bin=$(bin_dir) || die "PostgreSQL is not installed (no $LIB_ROOT/*/bin/initdb); run: bash scripts/postgres.sh install"
  # The path goes into postgresql.conf between quotes: plain characters only.
  [[ "$dir" =~ ^[A-Za-z0-9._/+-]+$ ]] ||
    die "$dir: use a folder path of letters, digits and . _ / + - only"
  if [ -e "$dir" ]; then
    [ -d "$dir" ] && [ ! -L "$dir" ] || die "$dir is not a folder"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty; give an absent or empty folder"
  fi
  [ -d "$dir" ] && made_dir=false || made_dir=true
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  user=""
  trap clean_up_failed_start EXIT
  # The server's socket path must fit in 107 bytes (sun_path).
  [ ${#dir} -le 80 ] || die "$dir is too long a path for the server's socket; use a shorter one (mktemp -d)"
  user=$(server_user)
  touch "$dir/$MARKER"
  mkdir -p "$dir/socket"
  [ "$user" = "$(id -un)" ] || chown -R "$user" "$dir"
  as_user "$user" test -w "$dir" ||
    die "$dir is not writable by $user (is a folder above it private?); use one under /tmp (mktemp -d)"
  as_user "$user" "$bin/initdb" -D "$dir/data" -U postgres --locale=C --encoding=UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
    die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
  cp "$dir/data/postgresql.conf" "$dir/postgresql.conf.initdb"
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    # Another process may take the port between the pick and the bind: try a new one.
    {
      cat "$dir/postgresql.conf.initdb"
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $port"
      echo "unix_socket_directories = '$dir/socket'"
      echo "max_connections = 200"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
      echo "password_encryption = 'scram-sha-256'"
    } >"$dir/data/postgresql.conf"
    if as_user "$user" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1; then
      break
    fi
    port=""
  done
  [ -n "$port" ] || die "the server did not start: $(tail -n 5 "$dir/server.log" 2>/dev/null)"
  for attempt in $(seq 1 60); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    [ "$attempt" -lt 60 ] || die "the server does not accept connections on 127.0.0.1:$port"
    sleep 0.5
  done
  as_user "$user" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/socket" -p "$port" -U postgres \
    -d postgres \
    -c "CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD'" \
    -c "CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE" >/dev/null ||
    die "could not create the role $PG_ROLE and the database $PG_DATABASE"
  url="postgresql://$PG_ROLE@127.0.0.1:$port/$PG_DATABASE"
  echo "$url" >"$dir/url"
  trap - EXIT
  echo "$url"
}

# A start that fails leaves no server and no files behind: DIR as it was given.
clean_up_failed_start() {
  [ -z "${user:-}" ] || stop_server "$bin" "$user" || true
  if [ "$made_dir" = true ]; then
    rm -rf -- "$dir"
  else
    find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
  fi
}

# Stop the server of DIR at once, when one runs (no graceful shutdown: the data goes).
stop_server() {
  local bin=$1 user=$2
  local pid attempt
  [ -f "$dir/data/postmaster.pid" ] || return 0
  pid=$(head -n 1 "$dir/data/postmaster.pid")
  as_user "$user" "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 ||
    return 1
  # pg_ctl returns once the pid file is gone, a moment before the postmaster exits.
  for attempt in $(seq 1 100); do
    alive "$pid" || return 0
    sleep 0.1
  done
  echo "error: the server (pid $pid) is still running after pg_ctl stop" >&2
  return 1
}

# Whether a process runs (a zombie, waiting for its parent to reap it, does not).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

stop() {
  local bin user
  if [ ! -e "$dir" ]; then
    return 0
  fi
  [ -d "$dir" ] && [ ! -L "$dir" ] || die "$dir is not a folder"
  # Only a folder this script made is removed: DIR comes from a command line.
  [ -f "$dir/$MARKER" ] || die "$dir was not made by scripts/postgres.sh start; not removing it"
  dir=$(cd "$dir" && pwd -P)
  if [ -f "$dir/data/postmaster.pid" ]; then
    bin=$(bin_dir) || die "PostgreSQL is no longer installed; cannot stop the server in $dir"
    user=$(stat -c %U "$dir/data")
    stop_server "$bin" "$user" || die "could not stop the server in $dir: see $dir/server.log"
  fi
  rm -rf -- "$dir"
}

command=${1:-}
case "$command" in
  install) [ "$#" -eq 1 ] || die "usage: scripts/postgres.sh install"; install_server ;;
  available) [ "$#" -eq 1 ] || die "usage: scripts/postgres.sh available"; bin_dir >/dev/null ;;
  start | stop)
    [ "$#" -eq 2 ] && [ -n "$2" ] || die "usage: scripts/postgres.sh $command DIR"
    dir=$2
    "$command"
    ;;
  *) die "usage: scripts/postgres.sh install | available | start DIR | stop DIR" ;;
esac
