#!/usr/bin/env bash
# Unload the current directory (POST /unload) or one directory by id
# (DELETE /api/directories/<id>) and print the server's JSON answer.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/scripts/common.sh
source "$ROOT/scripts/common.sh"

usage() {
  cat <<'EOF'
Usage: ./unload_directory.sh [URL] [--server URL] [--token TOKEN] [--id ID]

Unload the server's current directory (POST /unload), or, with --id, the directory with
that id (DELETE /api/directories/<ID>), and print the JSON answer.

  URL, --server URL  the server (default http://localhost:<IMAGE_SERVER_PORT>, port 7779)
  --token TOKEN      bearer token (default IMAGE_SERVER_TOKEN from the environment or .env)
  --id ID            unload this directory id instead of the current directory

Exit status: 0 on a 2xx answer; 1 on an HTTP error or when the server cannot be reached;
2 on a usage or configuration error.

Environment: IMAGE_SERVER_PYTHON (interpreter that reads .env; default .venv/bin/python),
IMAGE_SERVER_ENV_FILE (the .env file to read; default .env in the project).
EOF
}

# Percent-encode $1 as one path segment ("/" and every other reserved character encoded).
quote_segment() {
  "$PYTHON" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

main() {
  local server="" token="" token_given="" id="" id_given=""
  if [[ $# -gt 0 && "$1" != -* ]]; then
    server="$1"
    shift
  fi
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -h | --help)
        usage
        return 0
        ;;
      --server | --token | --id)
        [[ $# -ge 2 ]] || die "$1 needs a value" "$EXIT_USAGE"
        case "$1" in
          --server) server="$2" ;;
          --token) token="$2" token_given=1 ;;
          --id) id="$2" id_given=1 ;;
        esac
        shift 2
        ;;
      --server=*) server="${1#*=}" && shift ;;
      --token=*) token="${1#*=}" token_given=1 && shift ;;
      --id=*) id="${1#*=}" id_given=1 && shift ;;
      *)
        usage >&2
        die "unexpected argument: $1" "$EXIT_USAGE"
        ;;
    esac
  done

  PYTHON="$(python_path fallback)"
  if [[ -z "$server" ]]; then
    server="http://localhost:$(config_value port)"
  fi
  server="${server%/}"
  if [[ -z "$token_given" ]]; then
    token="$(config_value token)"
  fi
  [[ "$token" != *[$'\r\n']* ]] || die "the token must not contain a line break" "$EXIT_USAGE"

  local method="POST" url="$server/unload"
  if [[ -n "$id_given" ]]; then
    [[ -n "$id" ]] || die "--id needs a non-empty value" "$EXIT_USAGE"
    method="DELETE"
    url="$server/api/directories/$(quote_segment "$id")"
  fi

  local -a curl_args=(--silent --show-error --max-time 30 --path-as-is -X "$method")
  curl_args+=(--write-out '\n%{http_code}')
  local header=""
  if [[ -n "$token" ]]; then
    # curl reads the header from stdin, so the token never shows in `ps`.
    curl_args+=(--header @-)
    header="Authorization: Bearer $token"
  fi

  local answer status
  if ! answer="$(curl "${curl_args[@]}" "$url" <<<"$header")"; then
    die "could not reach the image server at $server"
  fi
  status="${answer##*$'\n'}"
  answer="${answer%$'\n'*}"
  printf '%s\n' "${answer%$'\n'}"
  if [[ ! "$status" =~ ^2[0-9][0-9]$ ]]; then
    die "$method $url answered HTTP $status"
  fi
}

main "$@"
