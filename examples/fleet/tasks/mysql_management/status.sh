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
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"
# shellcheck source=../lib/mysql.sh
. "$(dirname -- "$0")/../lib/mysql.sh"

DEFAULTS=${CL_PARAM_DEFAULTS_FILE:-}
ADMIN=$(mysql_tool mariadb-admin mysqladmin)

# client options go first (--defaults-extra-file must be the first option)
set --
if [ -n "$DEFAULTS" ]; then
	check_defaults_file "$DEFAULTS"
	set -- "--defaults-extra-file=$DEFAULTS"
fi

ping=$(mysql_ping "$ADMIN" "$@")
status=$("$ADMIN" "$@" status 2>&1) ||
	die 1 "$ADMIN status failed: $(last_line "$status")"
version=$("$ADMIN" "$@" version 2>/dev/null | sed -n 's/^Server version[[:space:]]*//p' || true)

echo "host: $HOST"
echo "server version: ${version:-unknown}"
printf '%s\n' "$ping"
printf '%s\n' "$status"
