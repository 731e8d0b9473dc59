#!/usr/bin/env bash
# Open an ngrok tunnel to the image server, record its public https URL as
# IMAGE_SERVER_PUBLIC_URL in .env, print NGROK_URL=<url>, and leave the tunnel running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/scripts/common.sh
source "$ROOT/scripts/common.sh"
RUN_DIR="${IMAGE_SERVER_RUN_DIR:-$ROOT/output}"
NGROK_API="${NGROK_API_URL:-http://127.0.0.1:4040}"
NGROK_API="${NGROK_API%/}"
ENV_FILE="${IMAGE_SERVER_ENV_FILE:-$ROOT/.env}"
START_DEADLINE_SECONDS=20

usage() {
  cat <<'EOF'
Usage: ./setup_ngrok.sh [PORT]

Give the image server on PORT a public https URL through ngrok:
  1. reuse a tunnel to PORT when an ngrok agent already runs (its local API answers),
     or ask that agent to open one;
  2. otherwise start `ngrok http PORT --log=stdout` in the background
     (log and PID file: output/ngrok-<port>.log, output/ngrok-<port>.pid);
  3. write IMAGE_SERVER_PUBLIC_URL=<url> into .env (other lines are kept);
  4. print NGROK_URL=<url> and exit, leaving the tunnel running.
Restart the server afterwards (./persistent_run.sh restart) so it hands out the new URL.

PORT defaults to IMAGE_SERVER_PORT from the environment or .env (7779).
Needs ngrok installed and authenticated once: ngrok config add-authtoken <token>.

Environment:
  NGROK_API_URL          base of the agent's local API (default http://127.0.0.1:4040)
  IMAGE_SERVER_ENV_FILE  the .env file to update (default .env in the project)
  IMAGE_SERVER_RUN_DIR   folder for the ngrok log and PID file (default output/)
  IMAGE_SERVER_PYTHON    interpreter to use (default .venv/bin/python, else python3)
EOF
}

# Print the https public URL of the agent's tunnel to $PORT; fail when there is none or
# the agent does not answer.
find_tunnel() {
  local listing
  listing="$(curl --silent --fail --noproxy '*' --max-time 2 "$NGROK_API/api/tunnels")" || return 1
  printf '%s' "$listing" | "$PYTHON" -c '
import json, re, sys
port = sys.argv[1]
try:
    tunnels = json.load(sys.stdin).get("tunnels") or []
except ValueError:
    sys.exit(1)
for tunnel in tunnels:
    addr = str((tunnel.get("config") or {}).get("addr", ""))
    url = str(tunnel.get("public_url", ""))
    # addr is "8080", "localhost:8080" or "http://localhost:8080" depending on the version.
    if re.fullmatch(r"(?:[a-z]+://)?(?:[^/]*:)?" + re.escape(port) + r"/?", addr) and url.startswith("https://"):
        print(url)
        sys.exit(0)
sys.exit(1)
' "$PORT"
}

# Ask an agent that already runs to open a tunnel to $PORT (POST /api/tunnels).
open_tunnel_on_agent() {
  local body
  body="$("$PYTHON" -c '
import json, sys
print(json.dumps({"name": f"imageserver-{sys.argv[1]}", "proto": "http", "addr": sys.argv[1]}))
' "$PORT")"
  curl --silent --fail --noproxy '*' --max-time 10 --output /dev/null \
    -H 'Content-Type: application/json' --data-binary "$body" "$NGROK_API/api/tunnels"
}

agent_answers() {
  curl --silent --fail --noproxy '*' --max-time 2 --output /dev/null "$NGROK_API/api/tunnels"
}

# Poll the agent API until it lists an https tunnel to $PORT; $1 is the ngrok PID to watch
# (empty when the agent was already running).
wait_for_tunnel() {
  local pid="$1" deadline=$((SECONDS + START_DEADLINE_SECONDS)) url
  while ((SECONDS < deadline)); do
    if url="$(find_tunnel)"; then
      printf '%s\n' "$url"
      return 0
    fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "error: ngrok exited before opening the tunnel" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "error: no https tunnel to port $PORT appeared at $NGROK_API/api/tunnels within ${START_DEADLINE_SECONDS} s" >&2
  return 1
}

start_ngrok() {
  command -v ngrok >/dev/null 2>&1 ||
    die "ngrok is not installed (or not on PATH). Install it from https://ngrok.com/download, run 'ngrok config add-authtoken <token>' once, then run this script again."
  mkdir -p "$RUN_DIR"
  local log_file="$RUN_DIR/ngrok-$PORT.log" pid_file="$RUN_DIR/ngrok-$PORT.pid" pid url
  echo "Starting ngrok http $PORT (log: $log_file) ..." >&2
  nohup ngrok http "$PORT" --log=stdout >"$log_file" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$pid_file"
  if ! url="$(wait_for_tunnel "$pid")"; then
    echo "--- last lines of $log_file ---" >&2
    tail -n 20 "$log_file" >&2 || true
    # The agent we just started is ours to stop.
    kill -TERM "$pid" 2>/dev/null || true
    rm -f "$pid_file"
    exit 1
  fi
  printf '%s\n' "$url"
}

# Set IMAGE_SERVER_PUBLIC_URL=$1 in $ENV_FILE: replace the first such line, drop any
# repeats, keep every other line; write a temp file in the same folder, then rename it.
record_public_url() {
  "$PYTHON" -c '
import os, re, sys, tempfile
path, url = os.path.realpath(sys.argv[1]), sys.argv[2]
if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]+)?/?", url):
    sys.exit(f"error: unexpected public URL from ngrok: {url!r}")
line = f"IMAGE_SERVER_PUBLIC_URL={url}\n"
pattern = re.compile(r"\s*(export\s+)?IMAGE_SERVER_PUBLIC_URL\s*=")
try:
    with open(path, encoding="utf-8") as handle:
        lines = handle.readlines()
    mode = os.stat(path).st_mode & 0o7777
except FileNotFoundError:
    lines, mode = [], 0o600
out, done = [], False
for old in lines:
    if pattern.match(old):
        if not done:
            out.append(line)
            done = True
        continue
    out.append(old)
if not done:
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    out.append(line)
folder = os.path.dirname(path) or "."
fd, tmp = tempfile.mkstemp(prefix=".env.", dir=folder)
try:
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(out)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
except BaseException:
    os.unlink(tmp)
    raise
' "$ENV_FILE" "$1"
}

main() {
  case "${1:-}" in
    -h | --help)
      usage
      return 0
      ;;
  esac
  (($# <= 1)) || die "too many arguments (see --help)" "$EXIT_USAGE"
  PYTHON="$(python_path fallback)"
  if [[ -n "${1:-}" ]]; then
    if [[ ! "$1" =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
      die "PORT must be a number between 1 and 65535, got '$1'" "$EXIT_USAGE"
    fi
    PORT="$((10#$1))"
  else
    PORT="$(config_value port)"
  fi

  local url
  if url="$(find_tunnel)"; then
    echo "Reusing the running ngrok tunnel to port $PORT" >&2
  elif agent_answers; then
    echo "An ngrok agent is running at $NGROK_API; asking it for a tunnel to port $PORT" >&2
    open_tunnel_on_agent || die "the ngrok agent at $NGROK_API refused to open a tunnel to port $PORT"
    url="$(wait_for_tunnel "")" || exit 1
  else
    url="$(start_ngrok)"
  fi

  record_public_url "$url"
  echo "Recorded IMAGE_SERVER_PUBLIC_URL=$url in $ENV_FILE; restart the server to use it (./persistent_run.sh restart)" >&2
  printf 'NGROK_URL=%s\n' "$url"
}

main "$@"
