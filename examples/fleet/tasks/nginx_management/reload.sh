#!/bin/sh
# nginx_management/reload.sh - task nginx_management.reload
#
# Tests the configuration with "nginx -t" and, only when it is valid, reloads
# the running nginx gracefully with "systemctl reload nginx" (open connections
# are finished by the old workers). A stopped nginx is not started.
#
# Usage (normally started by the celeroot worker):
#   ./reload.sh
#
# Environment:
#   CL_HOST  host name used in messages (default: uname -n)
#   CL_TASK  task name, used as the prefix of error messages
# This task has no params; stdin is replaced by /dev/null.
#
# Exit codes:
#   0  configuration valid and nginx reloaded
#   1  configuration test failed (nothing reloaded) or systemctl reload failed
#   3  nginx or systemctl is not installed
#   4  not running as root
#   5  nginx is not running (start it with: systemctl start nginx)
set -eu
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"
# shellcheck source=../lib/nginx.sh
. "$(dirname -- "$0")/../lib/nginx.sh"

need_tool nginx
have systemctl || die 3 "systemctl not found: $HOST does not run systemd"
need_root "reloading nginx needs root"

if ! nginx_test; then
	die 1 "nginx configuration test failed, not reloading: $NGINX_REASON"
fi

state=$(systemctl is-active nginx 2>/dev/null || true)
if [ "$state" != active ]; then
	die 5 "nginx is not running (state: ${state:-unknown}): start it with systemctl start nginx"
fi
out=$(systemctl reload nginx 2>&1) ||
	die 1 "systemctl reload nginx failed: $(printf '%s\n' "$out" | head -n 1) (see journalctl -u nginx)"
echo "nginx reloaded on $HOST"
