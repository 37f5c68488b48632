#!/bin/sh
# nginx_management/disable_site.sh - task nginx_management.disable_site
#
# Disables a site the Debian way: removes the symlink
# <conf_dir>/sites-enabled/<site> (sites-available is not touched), runs
# "nginx -t" and, when reload=true and nginx is running, reloads it. If the
# configuration test fails, the link is restored. Running it twice is
# harmless: a missing link is reported as "already disabled". A regular file
# in sites-enabled is never deleted.
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_SITE=example.com ./disable_site.sh
#
# Environment:
#   CL_PARAM_SITE      required; name of the entry in sites-enabled ([A-Za-z0-9._-], no leading ".")
#   CL_PARAM_RELOAD    true|false (default true): reload nginx after a successful test
#   CL_PARAM_CONF_DIR  absolute path (default /etc/nginx)
#   CL_HOST            host name used in messages (default: uname -n)
#   CL_TASK            task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
#
# Exit codes:
#   0  site disabled (or already disabled), configuration valid
#   1  configuration test failed (link restored), reload failed, or
#      sites-enabled/<site> is a regular file
#   2  invalid or missing parameter
#   3  nginx (or, with reload=true, systemctl) is not installed
#   4  not running as root
#   6  the sites-enabled directory does not exist
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
need_root "disabling a site needs root"

link="$CONF_DIR/sites-enabled/$SITE"
need_sites_enabled "$CONF_DIR"

changed=false
target=""
if [ -L "$link" ]; then
	target=$(readlink "$link")
	rm -f "$link"
	changed=true
	echo "disabled site $SITE (removed $link -> $target)"
elif [ -e "$link" ]; then
	die 1 "$link is a regular file, not a symlink: refusing to delete it (move it to sites-available first)"
else
	echo "site $SITE is already disabled"
fi

if ! nginx_test; then
	if [ "$changed" = true ]; then
		ln -s "$target" "$link"
		echo "rolled back: restored $link -> $target"
		die 1 "nginx configuration test failed with site $SITE disabled (link restored): $NGINX_REASON"
	fi
	die 1 "nginx configuration test failed: $NGINX_REASON"
fi

if [ "$RELOAD" = true ]; then
	nginx_reload_if_active "site $SITE disabled"
fi
