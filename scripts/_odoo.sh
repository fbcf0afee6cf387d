# Shared by scripts/demo and scripts/test: run the set-up (scripts/setup), then read what it found.
# Sets PYTHON, ODOO_HOME, ODOO_BIN and ADDONS_PATH, or SETUP_FAILED with the set-up's exit code.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

run_setup() {
    SETUP_FAILED=""
    python3 "$REPO_ROOT/scripts/setup" || SETUP_FAILED=$?
    if [ -z "$SETUP_FAILED" ]; then
        # shellcheck source=/dev/null
        source "$REPO_ROOT/.venv/messenger-env.sh"
    fi
    # what runs the pure suite and the tools when the set-up could not finish
    if [ -z "${PYTHON:-}" ]; then
        if [ -x "$REPO_ROOT/.venv/bin/python" ]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON=python3; fi
    fi
    [ -z "$SETUP_FAILED" ]
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_busy() {
    "$PYTHON" -c 'import socket, sys; s = socket.socket(); s.settimeout(1); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}
