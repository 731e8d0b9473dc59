# shellcheck shell=bash
# Helpers shared by the project's scripts. Source it, do not run it:
#   ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
#   source "$ROOT/scripts/common.sh"
# The sourcing script sets ROOT (the project folder); config_value also needs PYTHON.

# Exit status of a usage or configuration error.
EXIT_USAGE=2

# Print "error: $1" on stderr and exit with status $2 (default 1).
die() {
  printf 'error: %s\n' "$1" >&2
  exit "${2:-1}"
}

# Print the interpreter to use: IMAGE_SERVER_PYTHON when set, else $ROOT/.venv/bin/python.
# When that venv is missing, $1 decides:
#   fallback   print python3 instead
#   create     create the venv and install requirements.txt (progress on stderr)
#   no-create  print nothing and return 1
python_path() {
  local missing="$1"
  if [[ -n "${IMAGE_SERVER_PYTHON:-}" ]]; then
    printf '%s\n' "$IMAGE_SERVER_PYTHON"
    return 0
  fi
  local venv_python="$ROOT/.venv/bin/python"
  if [[ ! -x "$venv_python" ]]; then
    case "$missing" in
      create) create_venv "$venv_python" ;;
      no-create) return 1 ;;
      fallback) venv_python="python3" ;;
      *) die "python_path: unknown mode '$missing'" ;;
    esac
  fi
  printf '%s\n' "$venv_python"
}

# Create $ROOT/.venv and install requirements.txt with $1, the venv's python.
create_venv() {
  local venv_python="$1"
  echo "Creating $ROOT/.venv and installing requirements.txt ..." >&2
  python3 -m venv "$ROOT/.venv" >&2
  "$venv_python" -m pip install --quiet --upgrade pip >&2
  "$venv_python" -m pip install --quiet -r "$ROOT/requirements.txt" >&2
}

# Print the config fields $@ (port, host, token, timeout, public_url), one a line, as the
# server's config module reads them (the environment, then .env). A bad value prints the
# module's one-line error on stderr and exits 2.
config_value() {
  (cd "$ROOT" && "$PYTHON" -m imageserver.settings.query "$@") || exit "$EXIT_USAGE"
}
