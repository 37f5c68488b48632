#!/bin/sh
# nginx_management/status.sh - task nginx_management.status
#
# Prints the nginx version, the systemd state of the "nginx" unit, the number
# of worker processes and the TCP addresses nginx listens on
# ("ss -ltnp" filtered to nginx sockets). Changes nothing. Socket owners
# are only visible to root; as another user the port list may be empty.
#
# Usage (normally started by the celeroot worker):
#   ./status.sh
#
# Environment:
#   CL_HOST  host name used in messages (default: uname -n)
#   CL_TASK  task name, used as the prefix of error messages
# This task has no params; stdin is replaced by /dev/null.
#
# Exit codes:
#   0  nginx is active
#   3  nginx or systemctl is not installed
#   5  nginx is installed but not active (state on stderr)
set -eu
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"

need_tool nginx
have systemctl || die 3 "systemctl not found: $HOST does not run systemd"

count_workers() {
	if have pgrep; then
		pgrep -c -f '^nginx: worker process' || true # prints 0 (and exits 1) when none
		return 0
	fi
	n=0
	for f in /proc/[0-9]*/cmdline; do
		c=$(tr '\0' ' ' 2>/dev/null <"$f") || continue # the process may be gone
		case $c in "nginx: worker process"*) n=$((n + 1)) ;; esac
	done
	echo "$n"
}

version=$(nginx -v 2>&1 | sed 's/^nginx version: //')
state=$(systemctl is-active nginx 2>/dev/null || true)
enabled=$(systemctl is-enabled nginx 2>/dev/null || true)
echo "host: $HOST"
echo "nginx: ${version:-unknown version}"
echo "service: ${state:-unknown} (enabled: ${enabled:-unknown})"
echo "worker processes: $(count_workers)"

if have ss; then
	# LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=812,fd=6),...)
	ports=$(ss -ltnp 2>/dev/null | awk 'NR > 1 && /users:\(\("nginx"/ { print $4 }' | sort -u | tr '\n' ' ' | sed 's/ $//')
	if [ -n "$ports" ]; then
		echo "listening: $ports"
	elif [ "$(id -u)" -ne 0 ]; then
		echo "listening: none visible (run as root to see which process owns a socket)"
	else
		echo "listening: none"
	fi
else
	echo "listening: unknown (ss from iproute2 is not installed)"
fi

[ "$state" = active ] || die 5 "nginx is not active on $HOST (state: ${state:-unknown})"
