#!/usr/bin/env bash
# Run the image server (`python server.py`, granian) in the background and manage it.
#
# Why it is careful: the port may be held by something else (another server, another
# user's process). This script only ever signals the PID recorded in its own PID file, and
# only when /proc says that PID is still our `server.py`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/scripts/common.sh
source "$ROOT/scripts/common.sh"
RUN_DIR="${IMAGE_SERVER_RUN_DIR:-$ROOT/output}"
START_DEADLINE_SECONDS=20
STOP_DEADLINE_SECONDS=10
EXIT_NOT_RUNNING=3

usage() {
  cat <<'EOF'
Usage: ./persistent_run.sh [start|stop|status|restart] [PORT] [HOST] [TIMEOUT]
       ./persistent_run.sh PORT [HOST] [TIMEOUT]      (same as start)

Run the image server (python server.py, granian) in the background.

  start    start the server unless it is already running (the default command)
  stop     stop the server started by this script (SIGTERM, wait up to 10 s)
  status   print the URL and exit 0 while running; exit 3 when not running
           (exit 1 when the process is alive but /healthz does not answer)
  restart  stop, then start

PORT     port to bind; default IMAGE_SERVER_PORT from the environment or .env (7779)
HOST     address to bind (exported as IMAGE_SERVER_HOST)
TIMEOUT  default auto-unload timeout in minutes (exported as IMAGE_SERVER_TIMEOUT)

A port held by any other process is refused: this script never kills what it did not start.

Environment:
  IMAGE_SERVER_PYTHON    interpreter to use (default .venv/bin/python; the venv is created
                         and requirements.txt installed when it is missing)
  IMAGE_SERVER_RUN_DIR   folder of the PID and log files (default output/):
                         server-<port>.pid, server-<port>.log
  IMAGE_SERVER_ENV_FILE  the .env file to read (default .env in the project)
EOF
}

# --- Configuration --------------------------------------------------------------------

# The address a local client uses to reach a server bound to $1.
probe_host() {
  case "$1" in
    "" | 0.0.0.0 | "::" | "[::]" | "*") printf '127.0.0.1\n' ;;
    \[*) printf '%s\n' "$1" ;;
    *:*) printf '[%s]\n' "$1" ;;
    *) printf '%s\n' "$1" ;;
  esac
}

# --- Processes ------------------------------------------------------------------------

# True when PID $1 exists and is not a zombie.
is_alive() {
  local pid="$1" state
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)"
  [[ "$state" != "Z" ]]
}

# Print the start time of PID $1 (clock ticks since boot, field 22 of /proc/PID/stat). With
# the PID it names one process for good: a PID reused by another process has another one.
start_time() {
  local stat fields
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }" # the command name may hold spaces; field 3 follows its ") "
  read -r -a fields <<<"$stat"
  printf '%s\n' "${fields[19]}"
}

# Forget the recorded server of this port.
forget_pid() {
  rm -f "$PID_FILE" "$START_FILE"
}

# True when PID $1 is alive, is the very process we started (its start time, when recorded,
# matches) and its command line is our server (python server.py, or granian's renamed main
# process when setproctitle is installed).
is_our_server() {
  local pid="$1" cmdline recorded
  is_alive "$pid" || return 1
  if [[ -f "$START_FILE" ]]; then
    read -r recorded <"$START_FILE" || true
    [[ "$(start_time "$pid")" == "$recorded" ]] || return 1
  fi
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == *server.py* || "$cmdline" == *"granian asgi"*"imageserver.engines.asgi"* ]]
}

# Print the PID recorded in the PID file, if it holds a number.
recorded_pid() {
  local pid=""
  [[ -f "$PID_FILE" ]] || return 1
  read -r pid <"$PID_FILE" || true
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$pid"
}

healthy() {
  curl --silent --fail --noproxy '*' --max-time 2 --output /dev/null "$URL/healthz"
}

# True when something holds $PORT on $HOST (we could not bind it ourselves).
port_is_held() {
  "$PYTHON" -c '
import errno, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
host = host.strip("[]") or "0.0.0.0"
family = socket.AF_INET6 if ":" in host else socket.AF_INET
with socket.socket(family, socket.SOCK_STREAM) as sock:
    # The server binds with SO_REUSEADDR, so only a live listener makes it fail.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sys.exit(0 if exc.errno == errno.EADDRINUSE else 1)
sys.exit(1)
' "$HOST" "$PORT"
}

print_log_tail() {
  if [[ -f "$LOG_FILE" ]]; then
    echo "--- last lines of $LOG_FILE ---" >&2
    tail -n 30 "$LOG_FILE" >&2
  fi
}

# --- Commands -------------------------------------------------------------------------

# Wait for $URL/healthz while PID $1 lives; on a timeout, stop that PID only when $2 is
# "stop-on-timeout" (a process this run just started).
wait_until_healthy() {
  local pid="$1" on_timeout="${2:-}" deadline=$((SECONDS + START_DEADLINE_SECONDS))
  while ((SECONDS < deadline)); do
    if ! is_alive "$pid"; then
      echo "error: the server (PID $pid) exited during start-up" >&2
      print_log_tail
      forget_pid
      return 1
    fi
    if healthy; then
      return 0
    fi
    sleep 0.1
  done
  echo "error: the server did not answer $URL/healthz within ${START_DEADLINE_SECONDS} s" >&2
  print_log_tail
  if [[ "$on_timeout" == "stop-on-timeout" ]]; then
    # It is the process this run just started, so stopping it is ours to do.
    kill -TERM "$pid" 2>/dev/null || true
    forget_pid
  else
    echo "PID $pid is left as it is; try: ./persistent_run.sh restart $PORT" >&2
  fi
  return 1
}

cmd_start() {
  local pid
  if pid="$(recorded_pid)" && is_our_server "$pid"; then
    if healthy || wait_until_healthy "$pid"; then
      echo "already running at $URL (PID $pid)"
      return 0
    fi
    return 1
  fi
  forget_pid
  if port_is_held; then
    local what="another process"
    if healthy; then
      what="a server that was not started by this script (no PID file of ours)"
    fi
    die "port $PORT is already in use by $what; not touching it. Stop it, or choose another port: ./persistent_run.sh start <PORT>"
  fi
  mkdir -p "$RUN_DIR"
  echo "Starting the image server on port $PORT (log: $LOG_FILE) ..."
  printf '\n=== %s start on port %s ===\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$PORT" >>"$LOG_FILE"
  nohup "$PYTHON" "$ROOT/server.py" >>"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  start_time "$pid" >"$START_FILE.tmp" && mv -f "$START_FILE.tmp" "$START_FILE"
  printf '%s\n' "$pid" >"$PID_FILE.tmp"
  mv -f "$PID_FILE.tmp" "$PID_FILE"
  wait_until_healthy "$pid" stop-on-timeout || return 1
  echo "Image server running at $URL (PID $pid)"
}

cmd_stop() {
  local pid
  if ! pid="$(recorded_pid)"; then
    echo "not running on port $PORT (no PID file at $PID_FILE)"
    forget_pid
    return 0
  fi
  if ! is_our_server "$pid"; then
    echo "not running on port $PORT (PID $pid from $PID_FILE is not our server); removing the stale PID file"
    forget_pid
    return 0
  fi
  echo "Stopping the image server on port $PORT (PID $pid) ..."
  kill -TERM "$pid"
  local deadline=$((SECONDS + STOP_DEADLINE_SECONDS))
  while is_alive "$pid"; do
    if ((SECONDS >= deadline)); then
      die "PID $pid did not stop within ${STOP_DEADLINE_SECONDS} s; the PID file is kept"
    fi
    sleep 0.1
  done
  forget_pid
  echo "stopped"
}

cmd_status() {
  local pid
  if pid="$(recorded_pid)" && is_our_server "$pid"; then
    echo "running at $URL (PID $pid)"
    # The documented status codes are 0 (running) and 3 (not running); a silent /healthz
    # is still a running process, so it is a warning, not a third code.
    healthy || echo "warning: $URL/healthz does not answer (starting up, or hung)" >&2
    return 0
  fi
  echo "not running on port $PORT"
  return "$EXIT_NOT_RUNNING"
}

# --- Arguments ------------------------------------------------------------------------

main() {
  local command="start"
  case "${1:-}" in
    -h | --help | help)
      usage
      return 0
      ;;
    start | stop | status | restart)
      command="$1"
      shift
      ;;
    "" | [0-9]*) ;;
    *)
      usage >&2
      die "unknown command: $1" "$EXIT_USAGE"
      ;;
  esac
  (($# <= 3)) || die "too many arguments (see --help)" "$EXIT_USAGE"
  local port_arg="${1:-}" host_arg="${2:-}" timeout_arg="${3:-}"
  if [[ -n "$port_arg" ]]; then
    [[ "$port_arg" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port_arg'" "$EXIT_USAGE"
    export IMAGE_SERVER_PORT="$port_arg"
  fi
  [[ -z "$host_arg" ]] || export IMAGE_SERVER_HOST="$host_arg"
  [[ -z "$timeout_arg" ]] || export IMAGE_SERVER_TIMEOUT="$timeout_arg"

  cd "$ROOT"
  if [[ "$command" == "start" || "$command" == "restart" ]]; then
    PYTHON="$(python_path create)"
  elif ! PYTHON="$(python_path no-create)"; then
    # No venv and no IMAGE_SERVER_PYTHON: this script cannot have started a server.
    echo "not running (no $ROOT/.venv yet)"
    [[ "$command" == "stop" ]] && return 0
    return "$EXIT_NOT_RUNNING"
  fi

  # The port and host as the server's own config module reads them (.env, then the
  # environment); a bad value prints the module's one-line error and exits 2.
  local settings
  settings="$(config_value port host)"
  { read -r PORT; read -r HOST || true; } <<<"$settings"
  HOST="${HOST:-0.0.0.0}"
  URL="http://$(probe_host "$HOST"):$PORT"
  PID_FILE="$RUN_DIR/server-$PORT.pid"
  START_FILE="$RUN_DIR/server-$PORT.started"
  LOG_FILE="$RUN_DIR/server-$PORT.log"

  case "$command" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_stop && cmd_start ;;
  esac
}

main "$@"
