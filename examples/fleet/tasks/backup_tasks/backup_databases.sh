#!/bin/bash
# backup_tasks/backup_databases.sh - task backup_tasks.backup_databases
#
# Dumps MySQL/MariaDB with mariadb-dump (or mysqldump)
#   --single-transaction --quick --routines --events --triggers --hex-blob
# either all databases into one file (databases empty) or each listed
# database into its own file (--databases <db>, so the dump recreates it).
# Each dump is written to a hidden temporary file in the destination
# directory and renamed to its final name only when the dump (and gzip)
# succeeded, so a failed or interrupted run never leaves a partial dump under
# a real name. Afterwards dumps older than retention_days are deleted
# (find -mtime +N, only files named mysql-*.sql / mysql-*.sql.gz directly in
# the destination). Prints each new file with its size.
#
# Files: <destination>/mysql-<all|db>-<YYYYmmddTHHMMSSZ>[-<n>].sql[.gz], mode 0600.
# Two runs never overwrite each other (a -<n> suffix is added within the
# same second); concurrent runs on one destination are serialised with
# flock(1) when it is installed.
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_COMPRESSION=true CL_PARAM_RETENTION_DAYS=30 ./backup_databases.sh
#   CL_PARAM_DATABASES=shop,blog ./backup_databases.sh
#
# Environment:
#   CL_PARAM_COMPRESSION     true|false (default true): gzip the dump
#   CL_PARAM_RETENTION_DAYS  integer 0-3650 (default 14): prune dumps older than N days; 0 = keep all
#   CL_PARAM_DESTINATION     absolute directory (default /var/backups/celeroot/mysql), not "/"
#   CL_PARAM_DATABASES       comma-separated database names (default "": all databases)
#   CL_PARAM_DEFAULTS_FILE   absolute path or empty (default ""): client option file
#                            passed as --defaults-extra-file
#   CL_HOST                  host name used in messages (default: uname -n)
#   CL_TASK                  task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
#
# Exit codes:
#   0  all dumps written (and old ones pruned)
#   1  a dump failed (nothing partial is left behind; older dumps are kept)
#   2  invalid parameter value
#   3  mariadb-dump/mysqldump (or gzip, when compression=true) is not installed
#   4  destination (or defaults_file) is not writable/readable: run as root
#   7  another backup is already running on the same destination
set -euo pipefail
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"
# shellcheck source=../lib/mysql.sh
. "$(dirname -- "$0")/../lib/mysql.sh"

COMPRESSION=$(bool compression "${CL_PARAM_COMPRESSION:-true}")
RETENTION=$(int retention_days "${CL_PARAM_RETENTION_DAYS:-14}" 3650)
DEST=${CL_PARAM_DESTINATION:-/var/backups/celeroot/mysql}
DATABASES=${CL_PARAM_DATABASES:-}
DEFAULTS=${CL_PARAM_DEFAULTS_FILE:-}

DEST=${DEST%/}
[[ $DEST == /* ]] || die 2 "destination must be an absolute path: '$DEST'"
[[ -n $DEST ]] || die 2 "destination must not be /"
[[ $DEST != *..* ]] || die 2 "destination must not contain '..': '$DEST'"

dbs=()
if [[ -n $DATABASES ]]; then
	IFS=, read -r -a raw <<<"$DATABASES"
	for db in "${raw[@]}"; do
		db=${db//[[:space:]]/}
		[[ -n $db ]] || continue
		[[ $db =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$ ]] ||
			die 2 "invalid database name '$db' (allowed: letters, digits, _ -; at most 64)"
		[[ $db != all ]] || die 2 "a database named 'all' would clash with the all-databases dump name"
		dbs+=("$db")
	done
	((${#dbs[@]} > 0)) || die 2 "databases lists no database: '$DATABASES'"
fi

DUMP=$(mysql_tool mariadb-dump mysqldump)
if [[ $COMPRESSION == true ]]; then need_tool gzip; fi

client_opts=()
if [[ -n $DEFAULTS ]]; then
	check_defaults_file "$DEFAULTS"
	client_opts=("--defaults-extra-file=$DEFAULTS") # must be the first option
fi
dump_opts=(--single-transaction --quick --routines --events --triggers --hex-blob)

umask 077
if [[ ! -d $DEST ]]; then
	mkdir -p -- "$DEST" 2>/dev/null || die 4 "cannot create $DEST: run as root"
	chmod 0700 -- "$DEST"
fi
[[ -w $DEST && -x $DEST ]] || die 4 "cannot write to $DEST: run as root"

if command -v flock >/dev/null 2>&1; then
	exec 9>"$DEST/.backup.lock"
	flock -n 9 || die 7 "another backup is already running in $DEST"
fi

tmpfile=""
errfile=$(mktemp)
cleanup() {
	if [[ -n $tmpfile ]]; then rm -f -- "$tmpfile"; fi
	rm -f -- "$errfile"
}
trap cleanup EXIT

ts=$(date -u +%Y%m%dT%H%M%SZ)
ext=sql
if [[ $COMPRESSION == true ]]; then ext=sql.gz; fi

# dump_one NAME SELECTION-ARGS...
dump_one() {
	local name=$1
	shift
	local final="$DEST/mysql-$name-$ts.$ext" n=1
	while [[ -e $final ]]; do
		n=$((n + 1))
		final="$DEST/mysql-$name-$ts-$n.$ext"
	done
	tmpfile=$(mktemp "$DEST/.mysql-$name-$ts.XXXXXX.tmp")
	echo "dumping $name with $DUMP (compression=$COMPRESSION)"
	local ok=true
	if [[ $COMPRESSION == true ]]; then
		"$DUMP" "${client_opts[@]}" "${dump_opts[@]}" "$@" 2>"$errfile" | gzip -c >"$tmpfile" || ok=false
	else
		"$DUMP" "${client_opts[@]}" "${dump_opts[@]}" "$@" >"$tmpfile" 2>"$errfile" || ok=false
	fi
	if [[ $ok == false ]]; then
		sed 's/^/dump: /' "$errfile" # full error output to the log (stdout)
		die 1 "dump of $name failed: $(grep . "$errfile" | tail -n 1 || echo "$DUMP or gzip exited non-zero")"
	fi
	# non-fatal messages from the dump tool (e.g. warnings) go to the log
	if [[ -s $errfile ]]; then sed 's/^/warning: /' "$errfile"; fi
	mv -f -- "$tmpfile" "$final"
	tmpfile=""
	local size human
	size=$(wc -c <"$final")
	human=$(du -h -- "$final" | cut -f1)
	echo "backup: $final ($((size)) bytes, $human)"
}

if ((${#dbs[@]} == 0)); then
	dump_one all --all-databases
else
	for db in "${dbs[@]}"; do
		dump_one "$db" --databases "$db"
	done
fi

if ((RETENTION > 0)); then
	pruned=$(find "$DEST" -maxdepth 1 -type f \( -name 'mysql-*.sql.gz' -o -name 'mysql-*.sql' \) \
		-mtime +"$RETENTION" -print -delete)
	if [[ -n $pruned ]]; then
		while IFS= read -r line; do echo "pruned: $line"; done <<<"$pruned"
	fi
	echo "pruned $(grep -c . <<<"$pruned" || true) dump(s) older than $RETENTION days from $DEST"
else
	echo "retention_days=0: old dumps are kept"
fi
# leftovers of runs that were killed (SIGKILL skips the cleanup trap)
find "$DEST" -maxdepth 1 -type f -name '.mysql-*.tmp' -mmin +1440 -delete 2>/dev/null || true
echo "backup finished on $HOST"
