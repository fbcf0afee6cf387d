#!/usr/bin/env bash
# Re-export messenger_connector/i18n/messenger_connector.pot from the code (Odoo's own export, on a throw-away
# database with the addon installed) and merge it into every i18n/*.po: new strings arrive untranslated,
# strings gone from the code are dropped. Prints how many entries each language still lacks.
#
#   tools/i18n_update.sh
#
# Environment: ODOO_HOME (Odoo 18.0 source folder; default: the set-up's .odoo/odoo-18.0, or an importable
# odoo), PYTHON (default: the project's .venv, else python3), MC_I18N_TEMPLATE (optional: a database that
# already has the addon's dependencies, copied instead of installing them from scratch, which takes minutes).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
I18N="$ROOT/messenger_connector/i18n"
POT="$I18N/messenger_connector.pot"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
if [ -z "${ODOO_HOME:-}" ]; then
    if [ -f "$ROOT/.odoo/odoo-18.0/odoo-bin" ]; then
        ODOO_HOME="$ROOT/.odoo/odoo-18.0"
    else
        ODOO_HOME=$(cd /tmp && "$PYTHON" -c 'import os, odoo; print(os.path.dirname(os.path.dirname(odoo.__file__)))' 2>/dev/null) || true
    fi
fi
if [ -z "${ODOO_HOME:-}" ] || [ ! -f "$ODOO_HOME/odoo-bin" ]; then
    echo "i18n_update: Odoo 18 was not found: set ODOO_HOME to its source folder (the one holding odoo-bin)." >&2
    exit 2
fi

DB="mc_i18n_$$"
ODOO=("$PYTHON" "$ODOO_HOME/odoo-bin" --addons-path="$ODOO_HOME/addons,$ODOO_HOME/odoo/addons,$ROOT"
      -d "$DB" --no-http --max-cron-threads=0 --log-level=warn --stop-after-init)
LOG=$(mktemp)
drop_db() {
    "$PYTHON" -c "import psycopg2; c = psycopg2.connect(dbname='postgres'); c.autocommit = True; c.cursor().execute('DROP DATABASE IF EXISTS \"$DB\"')" 2>/dev/null || true
    rm -f "$LOG"
}
trap drop_db EXIT
if [ -n "${MC_I18N_TEMPLATE:-}" ]; then
    echo "i18n_update: copying database $MC_I18N_TEMPLATE"
    "$PYTHON" -c "import psycopg2; c = psycopg2.connect(dbname='postgres'); c.autocommit = True; c.cursor().execute('CREATE DATABASE \"$DB\" TEMPLATE \"$MC_I18N_TEMPLATE\"')"
fi
# with demo data, as Odoo exports its own: the demo records' texts are terms too
echo "i18n_update: installing messenger_connector with demo data on a throw-away database ($DB)"
if ! "${ODOO[@]}" -i messenger_connector > "$LOG" 2>&1; then
    tail -20 "$LOG" >&2; exit 1
fi
mkdir -p "$I18N"
echo "i18n_update: exporting $POT"
if ! "${ODOO[@]}" --i18n-export="$POT" --modules=messenger_connector > "$LOG" 2>&1; then
    tail -20 "$LOG" >&2; exit 1
fi
shopt -s nullglob
for po in "$I18N"/*.po; do
    if command -v msgmerge > /dev/null; then
        msgmerge --quiet --update --backup=none --no-fuzzy-matching "$po" "$POT"
        msgattrib --no-obsolete --output-file="$po" "$po"
    else
        # Odoo itself reads and writes PO files with polib: merge the same way without gettext.
        "$PYTHON" - "$po" "$POT" <<'PY'
import sys
import polib
po = polib.pofile(sys.argv[1], wrapwidth=78)
po.merge(polib.pofile(sys.argv[2]))
for entry in po.obsolete_entries():
    po.remove(entry)
for entry in po.fuzzy_entries():  # polib's merge guesses: a human decides instead
    entry.msgstr = ""
    entry.flags.remove("fuzzy")
po.save()
PY
    fi
    missing=$("$PYTHON" -c "import polib, sys; print(len(polib.pofile(sys.argv[1]).untranslated_entries()))" "$po")
    echo "i18n_update: $(basename "$po"): $missing entries to translate"
done
