# shellcheck shell=sh
# lib/nginx.sh - nginx helpers for the nginx_management scripts
#
# Sourced after lib/common.sh (it uses die):
#   # shellcheck source=../lib/nginx.sh
#   . "$(dirname -- "$0")/../lib/nginx.sh"

# nginx_test: runs "nginx -t" and prints its report. Succeeds when the
# configuration is valid; otherwise sets NGINX_REASON to the first
# [emerg]/[alert]/[crit] line (or "nginx -t exited with <code>" when there is
# none) and fails.
nginx_test() {
	_cl_out=$(nginx -t 2>&1) && _cl_rc=0 || _cl_rc=$?
	printf '%s\n' "$_cl_out"
	[ "$_cl_rc" -ne 0 ] || return 0
	NGINX_REASON=$(printf '%s\n' "$_cl_out" | grep -E '\[(emerg|alert|crit)\]' | head -n 1)
	NGINX_REASON=${NGINX_REASON:-nginx -t exited with $_cl_rc}
	return 1
}

# check_site_name SITE: dies 2 unless SITE is a usable sites-available /
# sites-enabled entry name: [A-Za-z0-9._-], not empty, no leading ".".
check_site_name() {
	[ -n "$1" ] || die 2 "parameter site is required"
	case $1 in
	.* | *[!A-Za-z0-9._-]*) die 2 "invalid site name '$1' (allowed: letters, digits, . _ -; no leading .)" ;;
	esac
}

# check_conf_dir CONF_DIR: dies 2 unless CONF_DIR is absolute and has no "..".
check_conf_dir() {
	is_absolute "$1" || die 2 "conf_dir must be an absolute path: '$1'"
	case $1 in
	*..*) die 2 "conf_dir must not contain '..': '$1'" ;;
	esac
}

# need_sites_enabled CONF_DIR: dies 6 unless CONF_DIR/sites-enabled exists.
need_sites_enabled() {
	[ -d "$1/sites-enabled" ] || die 6 "$1/sites-enabled does not exist (not a Debian-style nginx layout?)"
}

# nginx_reload_if_active WHAT: reloads nginx ("systemctl reload nginx") when
# it is running, else says that it was not reloaded. Dies 1 with
# "WHAT but systemctl reload nginx failed: ..." when the reload fails.
nginx_reload_if_active() {
	_cl_state=$(systemctl is-active nginx 2>/dev/null || true)
	if [ "$_cl_state" = active ]; then
		_cl_out=$(systemctl reload nginx 2>&1) ||
			die 1 "$1 but systemctl reload nginx failed: $(printf '%s\n' "$_cl_out" | head -n 1)"
		echo "nginx reloaded"
	else
		echo "nginx is not running (state: ${_cl_state:-unknown}); not reloaded"
	fi
}
