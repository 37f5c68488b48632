#!/bin/sh
# nginx_management/enable_site.sh - task nginx_management.enable_site
#
# Enables a site the Debian way: symlinks <conf_dir>/sites-available/<site>
# into <conf_dir>/sites-enabled/, runs "nginx -t" and, when reload=true and
# nginx is running, reloads it. If the configuration test fails, the link
# created by this run is removed again. Running it twice is harmless: an
# existing link to the same file is kept (the test and reload still run).
# A sites-enabled entry that is a regular file or points elsewhere is never
# replaced.
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_SITE=example.com ./enable_site.sh
#
# Environment:
#   CL_PARAM_SITE      required; file name in sites-available ([A-Za-z0-9._-], no leading ".")
#   CL_PARAM_RELOAD    true|false (default true): reload nginx after a successful test
#   CL_PARAM_CONF_DIR  absolute path (default /etc/nginx)
#   CL_HOST            host name used in messages (default: uname -n)
#   CL_TASK            task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
#
# Exit codes:
#   0  site enabled (or already enabled), configuration valid
#   1  configuration test failed (link rolled back), reload failed, or a
#      conflicting sites-enabled entry exists
#   2  invalid or missing parameter
#   3  nginx (or, with reload=true, systemctl) is not installed
#   4  not running as root
#   6  sites-available/<site> or the sites-enabled directory does not exist
set -eu
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"
# shellcheck source=../lib/nginx.sh
. "$(dirname -- "$0")/../lib/nginx.sh"

SITE=${CL_PARAM_SITE:-}
RELOAD=$(bool reload "${CL_PARAM_RELOAD:-true}")
CONF_DIR=${CL_PARAM_CONF_DIR:-/etc/nginx}
check_site_name "$SITE"
check_conf_dir "$CONF_DIR"

need_tool nginx
if [ "$RELOAD" = true ]; then
	have systemctl || die 3 "systemctl not found: $HOST does not run systemd (use reload=false)"
fi
need_root "enabling a site needs root"

avail="$CONF_DIR/sites-available/$SITE"
link="$CONF_DIR/sites-enabled/$SITE"
need_sites_enabled "$CONF_DIR"
[ -f "$avail" ] || die 6 "site $SITE not found: $avail does not exist"

changed=false
if [ -L "$link" ]; then
	target=$(readlink "$link")
	if [ "$target" = "$avail" ] || [ "$target" = "../sites-available/$SITE" ]; then
		echo "site $SITE is already enabled ($link -> $target)"
	else
		die 1 "$link already points to $target, not to $avail: refusing to replace it"
	fi
elif [ -e "$link" ]; then
	die 1 "$link exists and is not a symlink: refusing to replace it"
else
	ln -s "$avail" "$link"
	changed=true
	echo "enabled site $SITE ($link -> $avail)"
fi

if ! nginx_test; then
	if [ "$changed" = true ]; then
		rm -f "$link"
		echo "rolled back: removed $link"
		die 1 "nginx configuration test failed with site $SITE enabled (link removed): $NGINX_REASON"
	fi
	die 1 "nginx configuration test failed: $NGINX_REASON"
fi

if [ "$RELOAD" = true ]; then
	nginx_reload_if_active "site $SITE enabled"
fi
