#!/bin/sh
# apt_management/upgrade_packages.sh - task apt_management.upgrade_packages
#
# Upgrades every upgradable package with "apt-get upgrade --with-new-pkgs":
# new dependencies may be installed, packages are never removed (held-back
# packages are listed). With dry_run=true (the default) it only lists what
# would be upgraded.
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_DRY_RUN=true ./upgrade_packages.sh
#
# Environment:
#   CL_PARAM_DRY_RUN  true|false (default true): only simulate; false really upgrades (needs root)
#   CL_HOST           host name used in messages (default: uname -n)
#   CL_TASK           task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
# Package lists are refreshed with "apt-get update" only when running as root.
#
# Exit codes:
#   0  done (or nothing to upgrade)
#   1  apt-get failed
#   2  invalid parameter value
#   3  apt-get not found (not a Debian/Ubuntu host)
#   4  dry_run=false but not running as root
set -eu
exec </dev/null
PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
export PATH
HOST="${CL_HOST:-$(uname -n)}"

die() { rc=$1; shift; printf '%s: %s\n' "${CL_TASK:-${0##*/}}" "$*" >&2; exit "$rc"; }
bool() {
	case $2 in
	true | True | TRUE | 1 | yes) echo true ;;
	false | False | FALSE | 0 | no) echo false ;;
	*) die 2 "invalid value for $1: '$2' (expected true or false)" ;;
	esac
}

DRY_RUN=$(bool dry_run "${CL_PARAM_DRY_RUN:-true}")

command -v apt-get >/dev/null 2>&1 || die 3 "apt-get not found: $HOST is not a Debian/Ubuntu host"
uid=$(id -u)
if [ "$DRY_RUN" = false ] && [ "$uid" -ne 0 ]; then
	die 4 "dry_run=false needs root (running as uid $uid)"
fi

export DEBIAN_FRONTEND=noninteractive
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

if [ "$uid" -eq 0 ]; then
	echo "refreshing package lists (apt-get update)"
	apt-get -q -o DPkg::Lock::Timeout=300 update >"$tmp" 2>&1 ||
		die 1 "apt-get update failed: $(tail -n 1 "$tmp")"
	grep -E '^(W|E|Err):' "$tmp" || true
else
	echo "warning: not running as root, using the cached package lists (they may be stale)"
fi

sim=$(apt-get -s -o Debug::NoLocking=1 upgrade --with-new-pkgs 2>&1) ||
	die 1 "apt-get simulation failed: $(printf '%s\n' "$sim" | tail -n 1)"
list=$(printf '%s\n' "$sim" | awk '
	/^Inst / {
		old = "(new)"; new = $3
		if ($3 ~ /^\[/) { old = $3; gsub(/[][]/, "", old); new = $4 }
		sub(/^\(/, "", new)
		printf "  %s %s -> %s\n", $2, old, new
	}')
count=$(printf '%s\n' "$list" | grep -c . || true)
held=$(printf '%s\n' "$sim" | awk '
	/kept back:$/ { on = 1; next }
	on && /^ / { for (i = 1; i <= NF; i++) printf "%s%s", sep, $i; sep = " "; next }
	{ on = 0 }')

if [ "$DRY_RUN" = true ]; then
	echo "dry run: $count package(s) would be upgraded on $HOST"
	if [ "$count" -gt 0 ]; then printf '%s\n' "$list"; fi
	if [ -n "$held" ]; then echo "kept back (need a dist-upgrade or a manual install): $held"; fi
	exit 0
fi

if [ "$count" -eq 0 ]; then
	echo "nothing to upgrade on $HOST"
	if [ -n "$held" ]; then echo "kept back (need a dist-upgrade or a manual install): $held"; fi
	exit 0
fi

echo "upgrading $count package(s) on $HOST"
printf '%s\n' "$list"
if ! apt-get -q -y -o DPkg::Lock::Timeout=300 \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	upgrade --with-new-pkgs >"$tmp" 2>&1; then
	cat "$tmp"
	die 1 "apt-get upgrade failed: $(tail -n 1 "$tmp")"
fi
cat "$tmp"
echo "upgraded $count package(s)"
if [ -n "$held" ]; then echo "kept back (need a dist-upgrade or a manual install): $held"; fi
if [ -f /var/run/reboot-required ]; then
	echo "reboot required (/var/run/reboot-required exists)"
fi
