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
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"
# shellcheck source=../lib/apt.sh
. "$(dirname -- "$0")/../lib/apt.sh"

AUTO_INSTALL=$(bool auto_install "${CL_PARAM_AUTO_INSTALL:-false}")
NOTIFY=$(bool notify "${CL_PARAM_NOTIFY:-false}")

need_apt_get
uid=$(id -u)
if [ "$AUTO_INSTALL" = true ] && [ "$uid" -ne 0 ]; then
	die 4 "auto_install=true needs root (running as uid $uid)"
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
apt_refresh "$uid" "$tmp"

# Simulate a full upgrade and keep the packages whose candidate comes from a
# security archive: "<package> <installed version> <new version>" lines.
sim=$(apt_simulate dist-upgrade)
updates=$(printf '%s\n' "$sim" | apt_installs security)
count=$(count_lines "$updates")
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
	apt_run "$tmp" -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		install --only-upgrade $upgradable ||
		die 1 "apt-get install of security updates failed: $(tail -n 1 "$tmp")"
	set +f
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
