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
exec </dev/null
PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
export PATH
HOST="${CL_HOST:-$(uname -n)}"

die() { rc=$1; shift; printf '%s: %s\n' "${CL_TASK:-${0##*/}}" "$*" >&2; exit "$rc"; }
bool() {
	case $2 in
	true | True | TRUE | 1 | yes) echo true ;;
	false | False | FALSE | 0 | no) echo false ;;
	*) die 2 "invalid value for $1: '$2' (expected true or false)" ;;
	esac
}

SITE=${CL_PARAM_SITE:-}
RELOAD=$(bool reload "${CL_PARAM_RELOAD:-true}")
CONF_DIR=${CL_PARAM_CONF_DIR:-/etc/nginx}
[ -n "$SITE" ] || die 2 "parameter site is required"
case $SITE in
.* | *[!A-Za-z0-9._-]*) die 2 "invalid site name '$SITE' (allowed: letters, digits, . _ -; no leading .)" ;;
esac
case $CONF_DIR in
/*) ;;
*) die 2 "conf_dir must be an absolute path: '$CONF_DIR'" ;;
esac
case $CONF_DIR in
*..*) die 2 "conf_dir must not contain '..': '$CONF_DIR'" ;;
esac

command -v nginx >/dev/null 2>&1 ||
	die 3 "nginx is not installed: run \`cl task install nginx --target $HOST\`"
if [ "$RELOAD" = true ]; then
	command -v systemctl >/dev/null 2>&1 || die 3 "systemctl not found: $HOST does not run systemd (use reload=false)"
fi
[ "$(id -u)" -eq 0 ] || die 4 "enabling a site needs root"

avail="$CONF_DIR/sites-available/$SITE"
link="$CONF_DIR/sites-enabled/$SITE"
[ -d "$CONF_DIR/sites-enabled" ] || die 6 "$CONF_DIR/sites-enabled does not exist (not a Debian-style nginx layout?)"
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

out=$(nginx -t 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
	reason=$(printf '%s\n' "$out" | grep -E '\[(emerg|alert|crit)\]' | head -n 1)
	if [ "$changed" = true ]; then
		rm -f "$link"
		echo "rolled back: removed $link"
		die 1 "nginx configuration test failed with site $SITE enabled (link removed): ${reason:-nginx -t exited with $rc}"
	fi
	die 1 "nginx configuration test failed: ${reason:-nginx -t exited with $rc}"
fi

if [ "$RELOAD" = true ]; then
	state=$(systemctl is-active nginx 2>/dev/null || true)
	if [ "$state" = active ]; then
		out=$(systemctl reload nginx 2>&1) ||
			die 1 "site $SITE enabled but systemctl reload nginx failed: $(printf '%s\n' "$out" | head -n 1)"
		echo "nginx reloaded"
	else
		echo "nginx is not running (state: ${state:-unknown}); not reloaded"
	fi
fi
