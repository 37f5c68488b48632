#!/bin/sh
# mysql_management/optimize_tables.sh - task mysql_management.optimize_tables
#
# Runs "mysqlcheck --optimize" (mariadb-check when installed) on every table
# of one database. For InnoDB this rebuilds the table and updates index
# statistics ("Table does not support optimize, doing recreate + analyze
# instead" is the normal note). InnoDB rebuilds are online but use disk space
# and I/O: schedule it in a quiet hour. Safe to repeat.
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_DATABASE=shop ./optimize_tables.sh
#
# Environment:
#   CL_PARAM_DATABASE       required; database name, [A-Za-z0-9_-], at most 64
#                           characters, no leading "-"; information_schema and
#                           performance_schema are refused
#   CL_PARAM_DEFAULTS_FILE  absolute path or empty (default ""): client option file
#                           passed as --defaults-extra-file
#   CL_HOST                 host name used in messages (default: uname -n)
#   CL_TASK                 task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
#
# Exit codes:
#   0  all tables optimized
#   1  at least one table failed, or mysqlcheck failed
#   2  invalid or missing parameter
#   3  mariadb-check/mysqlcheck is not installed
#   4  defaults_file exists but is not readable
#   5  cannot connect to the server
#   6  the database does not exist
set -eu
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"
# shellcheck source=../lib/mysql.sh
. "$(dirname -- "$0")/../lib/mysql.sh"

DB=${CL_PARAM_DATABASE:-}
DEFAULTS=${CL_PARAM_DEFAULTS_FILE:-}
[ -n "$DB" ] || die 2 "parameter database is required"
check_db_name "$DB"
case $(printf '%s' "$DB" | tr '[:upper:]' '[:lower:]') in
information_schema | performance_schema) die 2 "$DB is a virtual schema and cannot be optimized" ;;
esac

CHECK=$(mysql_tool mariadb-check mysqlcheck)
ADMIN=$(pick mariadb-admin mysqladmin || true)

# client options go first (--defaults-extra-file must be the first option)
set --
if [ -n "$DEFAULTS" ]; then
	check_defaults_file "$DEFAULTS"
	set -- "--defaults-extra-file=$DEFAULTS"
fi

if [ -n "$ADMIN" ]; then mysql_ping "$ADMIN" "$@" >/dev/null; fi

echo "optimizing the tables of database $DB on $HOST"
out=$("$CHECK" "$@" --optimize --databases "$DB" 2>&1) && rc=0 || rc=$?
case $out in
*"Unknown database"*) die 6 "database $DB does not exist on $HOST" ;;
esac
mysqlcheck_summary "$out" # sets ntab, nerr, nwarn and problems

echo "optimized $ntab table(s) in database $DB: $nerr with errors, $nwarn with warnings"
if [ -n "$problems" ]; then printf '%s\n' "$problems"; fi
if [ "$rc" -ne 0 ]; then
	die 1 "$CHECK exited with $rc: $(last_line "$out")"
fi
[ "$nerr" -eq 0 ] || die 1 "$nerr table(s) failed to optimize in database $DB"
