#!/bin/sh
# apt_management/check_security_updates.sh - task apt_management.check_security_updates
#
# Lists the packages that have a pending update from a security archive
# (Debian "<release>-security", Ubuntu "<release>-security"). With
# auto_install=true it installs exactly those packages with
# "apt-get install --only-upgrade", nothing else.
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_AUTO_INSTALL=false CL_PARAM_NOTIFY=true ./check_security_updates.sh
#
# Environment:
#   CL_PARAM_AUTO_INSTALL  true|false (default false): install the pending security updates (needs root)
#   CL_PARAM_NOTIFY        true|false (default false): print one "NOTIFY: ..." summary line
#   CL_HOST                host name used in messages (default: uname -n)
#   CL_TASK                task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
# Package lists are refreshed with "apt-get update" only when running as root.
#
# Exit codes:
#   0  check done; pending updates are reported, they are not a failure
#   1  apt-get failed (update, simulation or install)
#   2  invalid parameter value
#   3  apt-get not found (not a Debian/Ubuntu host)
#   4  auto_install=true but not running as root
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

AUTO_INSTALL=$(bool auto_install "${CL_PARAM_AUTO_INSTALL:-false}")
NOTIFY=$(bool notify "${CL_PARAM_NOTIFY:-false}")

command -v apt-get >/dev/null 2>&1 || die 3 "apt-get not found: $HOST is not a Debian/Ubuntu host"
uid=$(id -u)
if [ "$AUTO_INSTALL" = true ] && [ "$uid" -ne 0 ]; then
	die 4 "auto_install=true needs root (running as uid $uid)"
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

# Simulate a full upgrade and keep the packages whose candidate comes from a
# security archive. Lines look like:
#   Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
sim=$(apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>&1) ||
	die 1 "apt-get simulation failed: $(printf '%s\n' "$sim" | tail -n 1)"
updates=$(printf '%s\n' "$sim" | awk '
	/^Inst / {
		origin = $0; sub(/^[^(]*\(/, "", origin)
		if (tolower(origin) !~ /security/) next
		old = "(new)"; new = $3
		if ($3 ~ /^\[/) { old = $3; gsub(/[][]/, "", old); new = $4 }
		sub(/^\(/, "", new)
		print $2, old, new
	}')
count=$(printf '%s\n' "$updates" | grep -c . || true)
names=$(printf '%s\n' "$updates" | awk 'NF { printf "%s%s", sep, $1; sep = " " }')

echo "$count security update(s) pending on $HOST"
printf '%s\n' "$updates" | while read -r pkg old new; do
	if [ -n "$pkg" ]; then
		printf '  %s %s -> %s\n' "$pkg" "$old" "$new"
	fi
done

installed=0
if [ "$AUTO_INSTALL" = true ] && [ "$count" -gt 0 ]; then
	echo "installing $count security update(s)"
	# Only packages that are installed already are named; new packages in the
	# list (e.g. a new kernel ABI) are pulled in as their dependencies.
	upgradable=$(printf '%s\n' "$updates" | awk '$2 != "(new)" { printf "%s%s", sep, $1; sep = " " }')
	set -f # package names are split on spaces on purpose, never globbed
	# shellcheck disable=SC2086
	if ! apt-get -q -y -o DPkg::Lock::Timeout=300 \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		install --only-upgrade $upgradable >"$tmp" 2>&1; then
		cat "$tmp"
		die 1 "apt-get install of security updates failed: $(tail -n 1 "$tmp")"
	fi
	set +f
	cat "$tmp"
	installed=$count
	echo "installed $installed security update(s)"
fi

reboot=""
if [ -f /var/run/reboot-required ]; then
	reboot="; reboot required"
	echo "reboot required (/var/run/reboot-required exists)"
	if [ -r /var/run/reboot-required.pkgs ]; then
		echo "  requested by: $(sort -u /var/run/reboot-required.pkgs | tr '\n' ' ')"
	fi
fi

if [ "$NOTIFY" = true ]; then
	short=$(printf '%s\n' "$names" | awk '{
		for (i = 1; i <= NF && i <= 10; i++) printf "%s%s", (i > 1 ? " " : ""), $i
		if (NF > 10) printf " (+%d more)", NF - 10
	}')
	if [ "$installed" -gt 0 ]; then
		echo "NOTIFY: [$HOST] installed $installed security update(s): $short$reboot"
	elif [ "$count" -gt 0 ]; then
		echo "NOTIFY: [$HOST] $count security update(s) pending: $short (auto_install=$AUTO_INSTALL)$reboot"
	else
		echo "NOTIFY: [$HOST] no security updates pending$reboot"
	fi
fi
