# shellcheck shell=sh
# lib/apt.sh - apt-get helpers for the apt_management scripts
#
# Sourced after lib/common.sh (it uses die, have and HOST):
#   # shellcheck source=../lib/apt.sh
#   . "$(dirname -- "$0")/../lib/apt.sh"
# Sourcing it exports DEBIAN_FRONTEND=noninteractive, so that no apt-get run
# or package maintainer script ever waits for an answer.

export DEBIAN_FRONTEND=noninteractive

# need_apt_get: dies 3 unless apt-get is installed.
need_apt_get() {
	have apt-get || die 3 "apt-get not found: $HOST is not a Debian/Ubuntu host"
}

# apt_refresh UID LOG: when UID (the caller's id -u) is 0, refreshes the
# package lists with "apt-get update" (output in the scratch file LOG; its
# W:/E:/Err: lines are printed; dies 1 when it fails). Otherwise prints a
# warning that the cached lists are used.
apt_refresh() {
	if [ "$1" -eq 0 ]; then
		echo "refreshing package lists (apt-get update)"
		apt-get -q -o DPkg::Lock::Timeout=300 update >"$2" 2>&1 ||
			die 1 "apt-get update failed: $(tail -n 1 "$2")"
		grep -E '^(W|E|Err):' "$2" || true
	else
		echo "warning: not running as root, using the cached package lists (they may be stale)"
	fi
}

# apt_lists_age: prints when the package lists were last refreshed
# ("updated YYYY-MM-DD HH:MM"), or "never updated" when there are none.
apt_lists_age() {
	for _cl_f in /var/lib/apt/lists/*_Packages*; do
		if [ -e "$_cl_f" ]; then
			# apt-get update moves the new lists into the directory: its time is the refresh's
			echo "updated $(date -r /var/lib/apt/lists '+%Y-%m-%d %H:%M')"
			return 0
		fi
	done
	echo "never updated"
}

# apt_simulate ARGS...: prints the output of "apt-get -s ARGS" (no lock, no
# root needed); dies 1 when the simulation fails.
apt_simulate() {
	_cl_sim=$(apt-get -s -o Debug::NoLocking=1 "$@" 2>&1) ||
		die 1 "apt-get simulation failed: $(printf '%s\n' "$_cl_sim" | tail -n 1)"
	printf '%s\n' "$_cl_sim"
}

# apt_installs all|security: reads "apt-get -s" output on stdin and prints
# "<package> <installed version> <new version>" for every package it would
# install (all), or only for those whose candidate comes from a security
# archive (security); the installed version is "(new)" for a package that is
# not installed yet. Inst lines look like:
#   Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
#   Inst libnew1 (1.2-1 Debian-Security:12/stable-security [amd64])
apt_installs() {
	awk -v only="$1" '
	/^Inst / {
		if (only == "security") {
			origin = $0; sub(/^[^(]*\(/, "", origin)
			if (tolower(origin) !~ /security/) next
		}
		old = "(new)"; new = $3
		if ($3 ~ /^\[/) { old = $3; gsub(/[][]/, "", old); new = $4 }
		sub(/^\(/, "", new)
		print $2, old, new
	}'
}

# apt_run LOG ARGS...: runs "apt-get -q -y ARGS" (waiting up to 5 minutes for
# the dpkg lock) with its output in the scratch file LOG, copies that output
# to stdout and returns apt-get's exit status; the caller dies with its own
# message, e.g. die 1 "apt-get upgrade failed: $(tail -n 1 "$tmp")".
apt_run() {
	_cl_log=$1
	shift
	_cl_rc=0
	apt-get -q -y -o DPkg::Lock::Timeout=300 "$@" >"$_cl_log" 2>&1 || _cl_rc=$?
	cat "$_cl_log"
	return "$_cl_rc"
}
