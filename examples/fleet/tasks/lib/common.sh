# shellcheck shell=sh
# lib/common.sh - setup and helpers shared by the example task scripts
#
# Not a task and not a module (the loader only reads tasks/*.yaml): a POSIX sh
# library that every script under tasks/<module>/ sources right after its
# "set -eu", relative to its own location, so that it works from any working
# directory and through a symlinked tasks/ directory:
#
#   # shellcheck source=../lib/common.sh
#   . "$(dirname -- "$0")/../lib/common.sh"
#
# (tasks/.shellcheckrc sets source-path=SCRIPTDIR, so "shellcheck -x" resolves
# that directive from any working directory.) Helpers of one kind of task are
# in lib/apt.sh, lib/nginx.sh and lib/mysql.sh, sourced after this file.
#
# It works for the #!/bin/sh and the #!/bin/bash scripts alike. Sourcing it
#   - replaces stdin with /dev/null (the JSON copy of the params is not read),
#   - appends the sbin directories to PATH (apt-get, nginx, ... live there),
#   - sets HOST, the host name used in messages (CL_HOST, default uname -n).
#
# Helpers that reject something exit the script through die with the exit code
# the scripts document: 2 invalid parameter, 3 tool not installed, 4 not root.
# Called as VAR=$(helper ...) they exit the subshell, and "set -e" then ends
# the script with the same code. The helpers' scratch variables start with _cl_
# so that they never overwrite a variable of the script; the two helpers that
# hand back results in variables (nginx_test, mysqlcheck_summary) say so.
#
# A script whose lib/ is missing stops at the "." line with the shell's own
# error on stderr (dash: exit 2, bash: exit 1) before doing anything.

exec </dev/null
PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
export PATH
HOST="${CL_HOST:-$(uname -n)}"

# die CODE MESSAGE...: prints "<task>: MESSAGE" on stderr (the one-line reason
# the worker shows) and exits with CODE.
die() {
	_cl_rc=$1
	shift
	printf '%s: %s\n' "${CL_TASK:-${0##*/}}" "$*" >&2
	exit "$_cl_rc"
}

# bool NAME VALUE: prints true or false; dies 2 for anything else.
bool() {
	case $2 in
	true | True | TRUE | 1 | yes) echo true ;;
	false | False | FALSE | 0 | no) echo false ;;
	*) die 2 "invalid value for $1: '$2' (expected true or false)" ;;
	esac
}

# int NAME VALUE MAX: prints VALUE without leading zeros when it is a whole
# number 0-MAX of at most 9 digits; dies 2 otherwise.
int() {
	case $2 in
	'' | *[!0-9]*) die 2 "invalid value for $1: '$2' (expected an integer 0-$3)" ;;
	esac
	[ "${#2}" -le 9 ] || die 2 "invalid value for $1: '$2' (expected an integer 0-$3)"
	_cl_v=${2#"${2%%[!0]*}"}
	_cl_v=${_cl_v:-0}
	[ "$_cl_v" -le "$3" ] || die 2 "invalid value for $1: '$2' (expected an integer 0-$3)"
	echo "$_cl_v"
}

# is_absolute PATH: succeeds when PATH starts with "/".
is_absolute() {
	case $1 in
	/*) return 0 ;;
	esac
	return 1
}

# have COMMAND: succeeds when COMMAND is installed (found in PATH).
have() {
	command -v "$1" >/dev/null 2>&1
}

# need_tool COMMAND: dies 3 unless COMMAND is installed; the message names the
# package of the same name to install.
need_tool() {
	have "$1" || die 3 "$1 is not installed: run \`cl task install $1 --target $HOST\`"
}

# pick COMMAND...: prints the first of the given commands that is installed;
# fails (prints nothing) when none is.
pick() {
	for _cl_c in "$@"; do
		if have "$_cl_c"; then
			echo "$_cl_c"
			return 0
		fi
	done
	return 1
}

# need_root MESSAGE: dies 4 with MESSAGE unless running as root.
need_root() {
	[ "$(id -u)" -eq 0 ] || die 4 "$1"
}

# last_line TEXT: prints the last non-empty line of TEXT (a command's output,
# for a one-line reason).
last_line() {
	printf '%s\n' "$1" | grep . | tail -n 1
}

# count_lines TEXT: prints the number of non-empty lines of TEXT.
count_lines() {
	printf '%s\n' "$1" | grep -c . || true
}
