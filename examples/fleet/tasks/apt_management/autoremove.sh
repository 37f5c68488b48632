#!/bin/sh
# apt_management/autoremove.sh - task apt_management.autoremove
#
# Removes packages that were installed automatically as dependencies and are
# no longer needed ("apt-get autoremove"), optionally purging their
# configuration files. Running it twice is harmless: the second run finds
# nothing to remove.
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_DRY_RUN=true CL_PARAM_PURGE=false ./autoremove.sh
#
# Environment:
#   CL_PARAM_DRY_RUN  true|false (default false): only list what would be removed
#   CL_PARAM_PURGE    true|false (default false): also remove configuration files (--purge)
#   CL_HOST           host name used in messages (default: uname -n)
#   CL_TASK           task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
#
# Exit codes:
#   0  done (or nothing to remove)
#   1  apt-get failed
#   2  invalid parameter value
#   3  apt-get not found (not a Debian/Ubuntu host)
#   4  dry_run=false but not running as root
set -eu
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"
# shellcheck source=../lib/apt.sh
. "$(dirname -- "$0")/../lib/apt.sh"

DRY_RUN=$(bool dry_run "${CL_PARAM_DRY_RUN:-false}")
PURGE=$(bool purge "${CL_PARAM_PURGE:-false}")

need_apt_get
uid=$(id -u)
if [ "$DRY_RUN" = false ] && [ "$uid" -ne 0 ]; then
	die 4 "dry_run=false needs root (running as uid $uid)"
fi

purge_opt=""
if [ "$PURGE" = true ]; then purge_opt="--purge"; fi

# Lines look like: Remv linux-image-6.1.0-9-amd64 [6.1.27-1]
sim=$(apt_simulate autoremove $purge_opt)
list=$(printf '%s\n' "$sim" | awk '/^(Remv|Purg) / { v = $3; gsub(/[][]/, "", v); printf "  %s %s\n", $2, v }')
count=$(count_lines "$list")

if [ "$count" -eq 0 ]; then
	echo "nothing to autoremove on $HOST"
	exit 0
fi
if [ "$DRY_RUN" = true ]; then
	echo "dry run: $count package(s) would be removed on $HOST (purge=$PURGE)"
	printf '%s\n' "$list"
	exit 0
fi

echo "removing $count package(s) on $HOST (purge=$PURGE)"
printf '%s\n' "$list"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
apt_run "$tmp" autoremove $purge_opt || die 1 "apt-get autoremove failed: $(tail -n 1 "$tmp")"
echo "removed $count package(s)"
