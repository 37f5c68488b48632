#!/bin/sh
# ssl_management/renew.sh - task ssl_management.renew
#
# Runs "certbot renew --quiet --non-interactive" (certbot only renews
# certificates that are close to expiry, so running it often is harmless).
# Changed certificates are detected by comparing checksums of the *.pem files
# under path before and after. When one changed and reload_nginx=true, nginx
# is tested with "nginx -t" and reloaded with "systemctl reload nginx" (only
# if it is installed and running).
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_DRY_RUN=false CL_PARAM_RELOAD_NGINX=true ./renew.sh
#
# Environment:
#   CL_PARAM_DRY_RUN       true|false (default false): certbot --dry-run (staging CA, nothing saved)
#   CL_PARAM_RELOAD_NGINX  true|false (default true): reload nginx when a certificate changed
#   CL_PARAM_PATH          absolute path (default /etc/letsencrypt/live): directory watched for changes
#   CL_HOST                host name used in messages (default: uname -n)
#   CL_TASK                task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
#
# Exit codes:
#   0  renewal ran (certificates renewed or nothing due); nginx reloaded if needed
#   1  certbot failed, or a certificate was renewed but nginx -t / reload failed
#      (fix the configuration, then run nginx_management.reload)
#   2  invalid parameter value
#   3  certbot is not installed
#   4  not running as root
set -eu
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"

DRY_RUN=$(bool dry_run "${CL_PARAM_DRY_RUN:-false}")
RELOAD_NGINX=$(bool reload_nginx "${CL_PARAM_RELOAD_NGINX:-true}")
LIVE=${CL_PARAM_PATH:-/etc/letsencrypt/live}
is_absolute "$LIVE" || die 2 "path must be absolute: '$LIVE'"

need_tool certbot
need_root "certbot renew needs root"

before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
snapshot() { # "<crc> <size> <file>" for every *.pem below $LIVE, sorted
	if [ -d "$LIVE" ]; then
		find -L "$LIVE" -type f -name '*.pem' -exec cksum {} + 2>/dev/null | sort || true
	fi
}

snapshot >"$before"
if [ "$DRY_RUN" = true ]; then
	echo "running certbot renew --dry-run on $HOST"
	out=$(certbot renew --quiet --non-interactive --dry-run 2>&1) && rc=0 || rc=$?
else
	echo "running certbot renew on $HOST"
	out=$(certbot renew --quiet --non-interactive 2>&1) && rc=0 || rc=$?
fi
if [ -n "$out" ]; then printf '%s\n' "$out"; fi
if [ "$rc" -ne 0 ]; then
	die 1 "certbot renew failed (exit $rc): $(last_line "$out")"
fi
snapshot >"$after"

# files that are new or whose checksum changed
changed=$(grep -vxF -f "$before" "$after" | awk '{ sub(/^[0-9]+ [0-9]+ /, ""); print }' || true)
if [ -z "$changed" ]; then
	echo "no certificate changed; nginx not reloaded"
	exit 0
fi
echo "changed certificate files:"
printf '%s\n' "$changed" | sed 's/^/  /'

if [ "$RELOAD_NGINX" = false ]; then
	echo "reload_nginx=false; nginx not reloaded"
	exit 0
fi
if ! have nginx; then
	echo "nginx is not installed; nothing to reload"
	exit 0
fi
out=$(nginx -t 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
	die 1 "certificates renewed but nginx -t failed, not reloaded: $(printf '%s\n' "$out" | grep -E '\[(emerg|alert|crit)\]' | head -n 1)"
fi
have systemctl || die 1 "certificates renewed but systemctl is not available to reload nginx"
state=$(systemctl is-active nginx 2>/dev/null || true)
if [ "$state" != active ]; then
	echo "nginx is not running (state: ${state:-unknown}); not reloaded"
	exit 0
fi
out=$(systemctl reload nginx 2>&1) ||
	die 1 "certificates renewed but systemctl reload nginx failed: $(printf '%s\n' "$out" | head -n 1)"
echo "nginx reloaded with the renewed certificate(s)"
