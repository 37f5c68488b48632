#!/bin/sh
# mysql_management/check_tables.sh - task mysql_management.check_tables
#
# Runs "mysqlcheck --check" (mariadb-check when installed) on one database or,
# when database is empty, on all databases. Prints a summary line and every
# table with an error or warning; tables that are OK are only counted.
# Read-only (CHECK TABLE), safe to repeat; large tables may take a while.
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_DATABASE=shop ./check_tables.sh
#   ./check_tables.sh                    # all databases
#
# Environment:
#   CL_PARAM_DATABASE       database name or empty (default "": all databases);
#                           [A-Za-z0-9_-], at most 64 characters, no leading "-"
#   CL_PARAM_DEFAULTS_FILE  absolute path or empty (default ""): client option file
#                           passed as --defaults-extra-file
#   CL_HOST                 host name used in messages (default: uname -n)
#   CL_TASK                 task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
#
# Exit codes:
#   0  all checked tables are OK (warnings are printed but do not fail)
#   1  at least one table has an error, or mysqlcheck failed
#   2  invalid parameter value
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
if [ -n "$DB" ]; then check_db_name "$DB"; fi

CHECK=$(mysql_tool mariadb-check mysqlcheck)
ADMIN=$(pick mariadb-admin mysqladmin || true)

# client options go first (--defaults-extra-file must be the first option)
set --
if [ -n "$DEFAULTS" ]; then
	check_defaults_file "$DEFAULTS"
	set -- "--defaults-extra-file=$DEFAULTS"
fi

if [ -n "$ADMIN" ]; then mysql_ping "$ADMIN" "$@" >/dev/null; fi

if [ -n "$DB" ]; then
	scope="database $DB"
	out=$("$CHECK" "$@" --check --databases "$DB" 2>&1) && rc=0 || rc=$?
else
	scope="all databases"
	out=$("$CHECK" "$@" --check --all-databases 2>&1) && rc=0 || rc=$?
fi
case $out in
*"Unknown database"*) die 6 "database $DB does not exist on $HOST" ;;
esac
mysqlcheck_summary "$out" # sets ntab, nerr, nwarn and problems

echo "checked $ntab table(s) in $scope on $HOST: $nerr with errors, $nwarn with warnings"
if [ -n "$problems" ]; then printf '%s\n' "$problems"; fi
if [ "$rc" -ne 0 ]; then
	die 1 "$CHECK exited with $rc: $(last_line "$out")"
fi
[ "$nerr" -eq 0 ] || die 1 "$nerr table(s) with errors in $scope"
