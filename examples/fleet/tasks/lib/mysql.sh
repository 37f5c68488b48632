# shellcheck shell=sh
# lib/mysql.sh - MySQL/MariaDB client helpers for the mysql_management and
# backup_tasks scripts
#
# Sourced after lib/common.sh (it uses die, pick, last_line and HOST):
#   # shellcheck source=../lib/mysql.sh
#   . "$(dirname -- "$0")/../lib/mysql.sh"

# mysql_tool MARIADB-NAME MYSQL-NAME: prints the client program to use, the
# MariaDB name when it is installed, else the MySQL name; dies 3 when neither
# is. Call it as VAR=$(mysql_tool mariadb-admin mysqladmin).
mysql_tool() {
	pick "$1" "$2" ||
		die 3 "MySQL/MariaDB client tools are not installed (need $1 or $2): run \`cl task install mariadb-client --target $HOST\`"
}

# check_defaults_file PATH: checks a non-empty defaults_file param: dies 2
# unless it is absolute and exists, 4 when it is not readable. The caller
# passes it as --defaults-extra-file=PATH, which must be the first option.
check_defaults_file() {
	is_absolute "$1" || die 2 "defaults_file must be an absolute path: '$1'"
	[ -e "$1" ] || die 2 "defaults_file $1 does not exist"
	[ -r "$1" ] || die 4 "cannot read defaults_file $1"
}

# check_db_name NAME: dies 2 unless NAME is a database name of
# [A-Za-z0-9_-], at most 64 characters, without a leading "-".
check_db_name() {
	case $1 in
	-* | *[!A-Za-z0-9_-]*) die 2 "invalid database name '$1' (allowed: letters, digits, _ -)" ;;
	esac
	[ "${#1}" -le 64 ] || die 2 "database name longer than 64 characters: '$1'"
}

# mysql_ping ADMIN CLIENT-OPTION...: runs "ADMIN CLIENT-OPTION... ping" and
# prints its answer; dies 5 when the server cannot be reached. (mysqladmin
# ping succeeds whenever the server runs, even if access is denied.)
mysql_ping() {
	_cl_admin=$1
	shift
	_cl_ping=$("$_cl_admin" "$@" ping 2>&1) ||
		die 5 "cannot connect to the MySQL/MariaDB server on $HOST: $(last_line "$_cl_ping")"
	printf '%s\n' "$_cl_ping"
}

# mysqlcheck_summary OUTPUT: reads the output of mysqlcheck (--check or
# --optimize) and sets
#   ntab      the number of tables
#   nerr      tables with an error, plus errors of mysqlcheck itself
#   nwarn     tables with a warning
#   problems  one "ERROR   <table>: <message>" or "WARNING <table>: <message>"
#             line per problem (empty when there is none)
# shellcheck disable=SC2034 # the variables are set for the caller
mysqlcheck_summary() {
	_cl_report=$(printf '%s\n' "$1" | awk '
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
	END { printf "SUMMARY %d %d %d\n", ntab, nerr + gerr, nwarn }')
	problems=$(printf '%s\n' "$_cl_report" | sed '$d')
	read -r _ ntab nerr nwarn <<EOF_SUMMARY
$(printf '%s\n' "$_cl_report" | tail -n 1)
EOF_SUMMARY
}
