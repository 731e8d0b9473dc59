#!/usr/bin/env bash
# Run the loader CLI (load_folder_v2.py) on one folder with its progress bar on stderr.
# Every option is passed through unchanged and the exit status is the CLI's own.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
  cat <<'EOF'
Usage: ./run_with_progress.sh <dir> [options of load_folder_v2.py]

Load <dir> into the image server and write its URL list, showing the URL checks as a
progress bar on stderr. Runs: python load_folder_v2.py --dir <dir> [options]
(when the first argument is itself an option, e.g. --dir, the arguments go through as given).

Exit status is the CLI's: 0 all good; 1 the server or the load failed; 2 usage error;
3 some URLs failed their check.

Common options: --server URL  --output DIR  --timeout MIN  --name NAME  --recursive
                --force-reload  --unload  --unload-first  --workers N  --batch-size N
                --token T  --no-verify  --verbose  --quiet
Run `./run_with_progress.sh <dir> --help` for the CLI's full help.

Environment:
  IMAGE_SERVER_PYTHON  interpreter to use (default .venv/bin/python)
  IMAGE_SERVER_LOADER  an executable to run instead of `python load_folder_v2.py`
EOF
}

main() {
  case "${1:-}" in
    -h | --help)
      usage
      return 0
      ;;
    "")
      usage >&2
      echo "error: missing <dir>" >&2
      return 2
      ;;
  esac

  local -a args
  if [[ "$1" == -* ]]; then
    args=("$@")
  else
    args=(--dir "$1" "${@:2}")
  fi

  # Flush Python's output as it happens, so progress and messages interleave correctly.
  export PYTHONUNBUFFERED=1
  if [[ -n "${IMAGE_SERVER_LOADER:-}" ]]; then
    exec "$IMAGE_SERVER_LOADER" "${args[@]}"
  fi
  local python="${IMAGE_SERVER_PYTHON:-$ROOT/.venv/bin/python}"
  if [[ -z "${IMAGE_SERVER_PYTHON:-}" && ! -x "$python" ]]; then
    echo "error: $python not found; run 'make install' (or ./persistent_run.sh) first" >&2
    return 1
  fi
  exec "$python" "$ROOT/load_folder_v2.py" "${args[@]}"
}

main "$@"
