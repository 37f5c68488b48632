#!/bin/sh
# apt_management/upgrade_packages.sh - task apt_management.upgrade_packages
#
# Upgrades every upgradable package with "apt-get upgrade --with-new-pkgs":
# new dependencies may be installed, packages are never removed (held-back
# packages are listed). With dry_run=true (the default) it only lists what
# would be upgraded ("apt-get -s", from the package lists already on the
# host: it changes nothing and does not refresh them, so it is quick).
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_DRY_RUN=true ./upgrade_packages.sh
#
# Environment:
#   CL_PARAM_DRY_RUN  true|false (default true): only simulate; false really upgrades (needs root)
#   CL_HOST           host name used in messages (default: uname -n)
#   CL_TASK           task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
# A real run (dry_run=false, as root) first refreshes the package lists with
# "apt-get update"; a dry run never does (it says how old the lists are).
#
# Exit codes:
#   0  done (or nothing to upgrade)
#   1  apt-get failed
#   2  invalid parameter value
#   3  apt-get not found (not a Debian/Ubuntu host)
#   4  dry_run=false but not running as root
set -eu
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"
# shellcheck source=../lib/apt.sh
. "$(dirname -- "$0")/../lib/apt.sh"

DRY_RUN=$(bool dry_run "${CL_PARAM_DRY_RUN:-true}")

need_apt_get
uid=$(id -u)
if [ "$DRY_RUN" = false ] && [ "$uid" -ne 0 ]; then
	die 4 "dry_run=false needs root (running as uid $uid)"
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if [ "$DRY_RUN" = true ]; then
	echo "dry run: using the package lists already on $HOST ($(apt_lists_age)); a real run refreshes them first"
else
	apt_refresh "$uid" "$tmp"
fi

sim=$(apt_simulate upgrade --with-new-pkgs)
list=$(printf '%s\n' "$sim" | apt_installs all | awk '{ printf "  %s %s -> %s\n", $1, $2, $3 }')
count=$(count_lines "$list")
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
apt_run "$tmp" -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	upgrade --with-new-pkgs || die 1 "apt-get upgrade failed: $(tail -n 1 "$tmp")"
echo "upgraded $count package(s)"
if [ -n "$held" ]; then echo "kept back (need a dist-upgrade or a manual install): $held"; fi
if [ -f /var/run/reboot-required ]; then
	echo "reboot required (/var/run/reboot-required exists)"
fi
