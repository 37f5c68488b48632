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
exec </dev/null
PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
export PATH
HOST="${CL_HOST:-$(uname -n)}"

die() { rc=$1; shift; printf '%s: %s\n' "${CL_TASK:-${0##*/}}" "$*" >&2; exit "$rc"; }
pick() { # print the first of the given commands that is installed
	for c in "$@"; do
		if command -v "$c" >/dev/null 2>&1; then
			echo "$c"
			return 0
		fi
	done
	return 1
}
# Reads mysqlcheck output on stdin; prints problem lines, then one last line
# "SUMMARY <tables> <tables with errors> <tables with warnings>".
summarize() {
	awk '
	/^[[:space:]]*$/ { next }
	/^[A-Za-z-]*(check|mysqlcheck): / { print "ERROR   " $0; gerr++; next }
	/^(error|Error|warning|Warning|note|Note|info|status)[[:space:]]*:/ {
		lvl = tolower($1); sub(/[[:space:]]*:.*/, "", lvl)
		msg = $0; sub(/^[^:]*:[[:space:]]*/, "", msg)
		if (lvl == "error" || (lvl == "status" && msg !~ /^OK/)) {
			if (!(cur in e)) { e[cur] = 1; nerr++ }
			print "ERROR   " cur ": " msg
		} else if (lvl == "warning") {
			if (!(cur in w)) { w[cur] = 1; nwarn++ }
			print "WARNING " cur ": " msg
		}
		next
	}
	{ cur = $1; ntab++ }
	END { printf "SUMMARY %d %d %d\n", ntab, nerr + gerr, nwarn }'
}

DB=${CL_PARAM_DATABASE:-}
DEFAULTS=${CL_PARAM_DEFAULTS_FILE:-}
[ -n "$DB" ] || die 2 "parameter database is required"
case $DB in
-* | *[!A-Za-z0-9_-]*) die 2 "invalid database name '$DB' (allowed: letters, digits, _ -)" ;;
esac
[ "${#DB}" -le 64 ] || die 2 "database name longer than 64 characters: '$DB'"
case $(printf '%s' "$DB" | tr '[:upper:]' '[:lower:]') in
information_schema | performance_schema) die 2 "$DB is a virtual schema and cannot be optimized" ;;
esac

CHECK=$(pick mariadb-check mysqlcheck) ||
	die 3 "MySQL/MariaDB client tools are not installed (need mariadb-check or mysqlcheck): run \`cl task install mariadb-client --target $HOST\`"
ADMIN=$(pick mariadb-admin mysqladmin || true)

set --
if [ -n "$DEFAULTS" ]; then
	case $DEFAULTS in /*) ;; *) die 2 "defaults_file must be an absolute path: '$DEFAULTS'" ;; esac
	[ -e "$DEFAULTS" ] || die 2 "defaults_file $DEFAULTS does not exist"
	[ -r "$DEFAULTS" ] || die 4 "cannot read defaults_file $DEFAULTS"
	set -- "--defaults-extra-file=$DEFAULTS"
fi

if [ -n "$ADMIN" ]; then
	ping=$("$ADMIN" "$@" ping 2>&1) ||
		die 5 "cannot connect to the MySQL/MariaDB server on $HOST: $(printf '%s\n' "$ping" | grep . | tail -n 1)"
fi

echo "optimizing the tables of database $DB on $HOST"
out=$("$CHECK" "$@" --optimize --databases "$DB" 2>&1) && rc=0 || rc=$?
case $out in
*"Unknown database"*) die 6 "database $DB does not exist on $HOST" ;;
esac
report=$(printf '%s\n' "$out" | summarize)
problems=$(printf '%s\n' "$report" | sed '$d')
read -r _ ntab nerr nwarn <<EOF_SUMMARY
$(printf '%s\n' "$report" | tail -n 1)
EOF_SUMMARY

echo "optimized $ntab table(s) in database $DB: $nerr with errors, $nwarn with warnings"
if [ -n "$problems" ]; then printf '%s\n' "$problems"; fi
if [ "$rc" -ne 0 ]; then
	die 1 "$CHECK exited with $rc: $(printf '%s\n' "$out" | grep . | tail -n 1)"
fi
[ "$nerr" -eq 0 ] || die 1 "$nerr table(s) failed to optimize in database $DB"
