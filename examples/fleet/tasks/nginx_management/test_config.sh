#!/bin/sh
# nginx_management/test_config.sh - task nginx_management.test_config
#
# Runs "nginx -t" and prints its report. Changes nothing.
#
# Usage (normally started by the celeroot worker):
#   ./test_config.sh
#
# Environment:
#   CL_HOST  host name used in messages (default: uname -n)
#   CL_TASK  task name, used as the prefix of error messages
# This task has no params; stdin is replaced by /dev/null.
#
# Exit codes:
#   0  configuration is valid
#   1  nginx -t reported an error (the first [emerg]/[crit] line is on stderr)
#   3  nginx is not installed
#   4  not running as root (nginx -t opens the pid file, logs and certificates)
set -eu
exec </dev/null
PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
export PATH
HOST="${CL_HOST:-$(uname -n)}"

die() { rc=$1; shift; printf '%s: %s\n' "${CL_TASK:-${0##*/}}" "$*" >&2; exit "$rc"; }

command -v nginx >/dev/null 2>&1 ||
	die 3 "nginx is not installed: run \`cl task install nginx --target $HOST\`"
[ "$(id -u)" -eq 0 ] || die 4 "nginx -t needs root (it opens the pid file, logs and certificates)"

out=$(nginx -t 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
	reason=$(printf '%s\n' "$out" | grep -E '\[(emerg|alert|crit)\]' | head -n 1)
	die 1 "nginx configuration test failed: ${reason:-nginx -t exited with $rc}"
fi
echo "nginx configuration OK on $HOST"
