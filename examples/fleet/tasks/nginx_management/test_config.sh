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
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"
# shellcheck source=../lib/nginx.sh
. "$(dirname -- "$0")/../lib/nginx.sh"

need_tool nginx
need_root "nginx -t needs root (it opens the pid file, logs and certificates)"

if ! nginx_test; then
	die 1 "nginx configuration test failed: $NGINX_REASON"
fi
echo "nginx configuration OK on $HOST"
