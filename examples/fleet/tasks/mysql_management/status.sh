#!/bin/sh
# mysql_management/status.sh - task mysql_management.status
#
# Pings the MySQL/MariaDB server and prints its version and the one-line
# "mysqladmin status" counters (uptime, threads, questions, slow queries,
# open tables, queries per second). Uses mariadb-admin when installed, else
# mysqladmin. Changes nothing.
#
# Usage (normally started by the celeroot worker):
#   ./status.sh
#   CL_PARAM_DEFAULTS_FILE=/etc/celeroot/my.cnf ./status.sh
#
# Environment:
#   CL_PARAM_DEFAULTS_FILE  absolute path or empty (default ""): client option file
#                           passed as --defaults-extra-file
#   CL_HOST                 host name used in messages (default: uname -n)
#   CL_TASK                 task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
#
# Exit codes:
#   0  server is up and answered
#   1  server is up but status failed (e.g. access denied)
#   2  invalid parameter value (defaults_file not absolute or missing)
#   3  mariadb-admin/mysqladmin is not installed
#   4  defaults_file exists but is not readable
#   5  cannot connect to the server
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

DEFAULTS=${CL_PARAM_DEFAULTS_FILE:-}
ADMIN=$(pick mariadb-admin mysqladmin) ||
	die 3 "MySQL/MariaDB client tools are not installed (need mariadb-admin or mysqladmin): run \`cl task install mariadb-client --target $HOST\`"

# client options go first (--defaults-extra-file must be the first option)
set --
if [ -n "$DEFAULTS" ]; then
	case $DEFAULTS in /*) ;; *) die 2 "defaults_file must be an absolute path: '$DEFAULTS'" ;; esac
	[ -e "$DEFAULTS" ] || die 2 "defaults_file $DEFAULTS does not exist"
	[ -r "$DEFAULTS" ] || die 4 "cannot read defaults_file $DEFAULTS"
	set -- "--defaults-extra-file=$DEFAULTS"
fi

# mysqladmin ping exits 0 whenever the server is running, even if access is denied
ping=$("$ADMIN" "$@" ping 2>&1) ||
	die 5 "cannot connect to the MySQL/MariaDB server on $HOST: $(printf '%s\n' "$ping" | grep . | tail -n 1)"
status=$("$ADMIN" "$@" status 2>&1) ||
	die 1 "$ADMIN status failed: $(printf '%s\n' "$status" | grep . | tail -n 1)"
version=$("$ADMIN" "$@" version 2>/dev/null | sed -n 's/^Server version[[:space:]]*//p' || true)

echo "host: $HOST"
echo "server version: ${version:-unknown}"
printf '%s\n' "$ping"
printf '%s\n' "$status"
