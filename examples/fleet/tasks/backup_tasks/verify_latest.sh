#!/bin/bash
# backup_tasks/verify_latest.sh - task backup_tasks.verify_latest
#
# For every backup set in the destination (mysql-all-*, mysql-<db>-*, as
# written by backup_databases) takes the newest dump (by modification time)
# and checks that
#   - it is not empty,
#   - a .gz file decompresses completely with a correct CRC (the same check
#     as "gunzip -t", done while reading the last line),
#   - its last line is the "-- Dump completed" trailer that mysqldump and
#     mariadb-dump write only after a complete dump,
#   - it is not older than max_age_hours (when max_age_hours > 0).
# Prints one line per set: OK|FAILED <file> <size> <age> [reason]. Read-only.
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_MAX_AGE_HOURS=26 ./verify_latest.sh
#
# Environment:
#   CL_PARAM_DESTINATION    absolute directory (default /var/backups/celeroot/mysql)
#   CL_PARAM_MAX_AGE_HOURS  integer 0-87600 (default 0 = no age check)
#   CL_HOST                 host name used in messages (default: uname -n)
#   CL_TASK                 task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
#
# Exit codes:
#   0  the newest dump of every set is complete (and recent enough)
#   1  a newest dump is empty, corrupt, truncated or too old
#   2  invalid parameter value
#   3  gzip is not installed (and there are .gz dumps)
#   4  destination is not readable: run as root
#   6  destination does not exist or holds no dump
set -euo pipefail
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"

DEST=${CL_PARAM_DESTINATION:-/var/backups/celeroot/mysql}
MAX_AGE=$(int max_age_hours "${CL_PARAM_MAX_AGE_HOURS:-0}" 87600)
DEST=${DEST%/}
[[ $DEST == /* ]] || die 2 "destination must be an absolute path: '$DEST'"

[[ -d $DEST ]] || die 6 "$DEST does not exist: no backup has been written yet"
[[ -r $DEST && -x $DEST ]] || die 4 "cannot read $DEST: run as root"

# newest file per set; "<mtime> <path>" sorted oldest first, so later entries win
declare -A newest=() mtime=()
while IFS=' ' read -r t f; do
	base=${f##*/}
	bset=${base#mysql-}
	bset=${bset%.gz}
	bset=${bset%.sql}
	# strip -<YYYYmmddTHHMMSSZ>[-<n>]
	[[ $bset =~ ^(.+)-[0-9]{8}T[0-9]{6}Z(-[0-9]+)?$ ]] || continue
	bset=${BASH_REMATCH[1]}
	newest[$bset]=$f
	mtime[$bset]=${t%.*}
done < <(find "$DEST" -maxdepth 1 -type f \( -name 'mysql-*.sql.gz' -o -name 'mysql-*.sql' \) \
	-printf '%T@ %p\n' | sort -n)

((${#newest[@]} > 0)) || die 6 "no dump found in $DEST"

now=$(date +%s)
failed=0
failed_sets=""
errfile=$(mktemp)
trap 'rm -f -- "$errfile"' EXIT
mapfile -t sets < <(printf '%s\n' "${!newest[@]}" | sort)
for bset in "${sets[@]}"; do
	f=${newest[$bset]}
	size=$(wc -c <"$f")
	size=$((size))
	age_h=$(((now - ${mtime[$bset]}) / 3600))
	reason=""
	last=""
	if ((size == 0)); then
		reason="empty file"
	elif [[ $f == *.gz ]]; then
		need_tool gzip
		if ! last=$(gzip -dc -- "$f" 2>"$errfile" | tail -n 1); then
			reason="gzip integrity check failed: $(grep . "$errfile" | tail -n 1 || true)"
		fi
	else
		last=$(tail -n 1 -- "$f")
	fi
	if [[ -z $reason && $last != "-- Dump completed"* ]]; then
		reason="incomplete dump (no '-- Dump completed' trailer)"
	fi
	if [[ -z $reason ]] && ((MAX_AGE > 0 && age_h >= MAX_AGE)); then
		reason="too old (${age_h}h, max_age_hours=$MAX_AGE)"
	fi
	if [[ -z $reason ]]; then
		printf 'OK      %s  %d bytes  %dh old\n' "$f" "$size" "$age_h"
	else
		printf 'FAILED  %s  %d bytes  %dh old  %s\n' "$f" "$size" "$age_h" "$reason"
		failed=$((failed + 1))
		failed_sets="$failed_sets $bset"
	fi
done

echo "verified the newest dump of ${#sets[@]} backup set(s) in $DEST on $HOST: $failed failed"
((failed == 0)) || die 1 "$failed backup set(s) failed verification:$failed_sets"
