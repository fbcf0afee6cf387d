# Shared by scripts/demo and scripts/test: find Odoo 18 and PostgreSQL, or say what is missing.
# Sets ODOO_BIN and ADDONS_PATH. ODOO_HOME may point at an Odoo 18.0 source tree (the folder of odoo-bin).
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}

find_odoo() {
    local home="${ODOO_HOME:-}"
    if [ -z "$home" ]; then
        home=$(cd /tmp && "$PYTHON" -c 'import os, odoo; print(os.path.dirname(os.path.dirname(os.path.abspath(odoo.__file__))))' 2>/dev/null) || home=""
    fi
    if [ -z "$home" ] || [ ! -f "$home/odoo-bin" ]; then
        ODOO_MISSING="Odoo 18 was not found: set ODOO_HOME to an Odoo 18.0 source tree (the folder holding odoo-bin), or make 'import odoo' work for $PYTHON (e.g. a .pth file naming that folder), and install its requirements.txt."
        return 1
    fi
    local version
    version=$(cd /tmp && PYTHONPATH="$home" "$PYTHON" -c 'import odoo.release as r; print(r.version_info[0])' 2>/dev/null) || version=""
    if [ "$version" != "18" ]; then
        ODOO_MISSING="The Odoo found at $home is not importable as Odoo 18 by $PYTHON (got '${version:-an import error}'): install its requirements.txt, or point ODOO_HOME at an Odoo 18.0 tree."
        return 1
    fi
    ODOO_HOME="$home"
    ODOO_BIN="$home/odoo-bin"
    ADDONS_PATH="$home/addons,$home/odoo/addons,$REPO_ROOT"
    return 0
}

find_postgres() {
    if ! "$PYTHON" - <<'PY' 2>/dev/null
import os, psycopg2
kw = {k: v for k, v in (("host", os.environ.get("PGHOST")), ("port", os.environ.get("PGPORT")),
                        ("user", os.environ.get("PGUSER"))) if v}
psycopg2.connect(dbname="postgres", connect_timeout=5, **kw).close()
PY
    then
        ODOO_MISSING="PostgreSQL is not reachable (tried the local socket, or PGHOST/PGPORT/PGUSER): start it, and make sure the current user (${PGUSER:-$(id -un)}) may create databases."
        return 1
    fi
    return 0
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
