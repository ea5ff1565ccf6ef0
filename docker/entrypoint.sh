#!/bin/sh
# Container entry point: `dmarcwatch <command>` with the image's CMD (start) as the default.
# exec replaces this shell with node, so SIGTERM from `docker stop` reaches the app and it shuts
# down gracefully (stops accepting, drains, closes the database).
set -eu

data_dir="${DMARCWATCH_DATA_DIR:-/data}"

# The nearest directory that exists: the data directory itself, or the parent it will be made in.
probe="$data_dir"
while [ ! -d "$probe" ] && [ "$probe" != "/" ] && [ "$probe" != "." ]; do
  probe=$(dirname "$probe")
done

# Help needs no data directory.
check_data_dir=yes
for arg in "$@"; do
  case "$arg" in --help | -h) check_data_dir=no ;; esac
done
case "${1:-}" in help) check_data_dir=no ;; esac

if [ "$check_data_dir" = yes ] && [ ! -w "$probe" ]; then
  uid=$(id -u)
  gid=$(id -g)
  {
    echo "dmarcwatch: the data directory $data_dir is not writable by this container's user (uid $uid, gid $gid)."
    echo "  A bind mount keeps the owner it has on the host. Either give it to the container user:"
    echo "      sudo chown -R $uid:$gid /path/on/host"
    echo "  or use a named volume (docker run -v dmarcwatch-data:$data_dir ...), which Docker prepares for you."
  } >&2
  if [ -z "${DATABASE_URL:-}" ]; then
    echo "  The embedded database lives there, so DMARC Watch cannot start without it." >&2
    exit 1
  fi
  echo "  DATABASE_URL is set, so starting anyway; features that keep local files will fail." >&2
fi

# The server makes many short-lived objects per request: a young generation of 2 × 32 MB (node's
# default is 2 × 16) leaves the garbage collector about half the work under load. Imports keep the
# default, which keeps their peak memory lower.
node_flags=""
case "${1:-}" in start | serve) node_flags="--max-semi-space-size=32" ;; esac

# shellcheck disable=SC2086 # no flag, or flags without spaces
exec node $node_flags /app/dist/src/main.js "$@"
