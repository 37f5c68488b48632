#!/bin/bash
# examples/fleet/tasks/test_scripts.sh - self-contained checks for the example task scripts
#
# Usage:
#   examples/fleet/tasks/test_scripts.sh            # from anywhere; exits non-zero on failure
#   VERBOSE=1 examples/fleet/tasks/test_scripts.sh  # also print every passing check
#   KEEP=1 examples/fleet/tasks/test_scripts.sh     # keep the temporary directory (path printed)
#
# What it does:
#   1. static checks: every script named in tasks/*.yaml exists, is executable
#      (mode 0755) and has a header; "sh -n"/"bash -n" on every script;
#      the shellcheck linter when installed (skipped otherwise); every param
#      declared in a module .yaml is read by its script as CL_PARAM_<NAME>.
#      The shared library lib/*.sh (sourced, not run: mode 0644, POSIX sh) and
#      how every script sources it (relative to its own location).
#   2. runs every task script once in a sandbox: PATH holds only symlinks to
#      basic utilities plus fake tools (apt-get, nginx, systemctl, ss, pgrep,
#      certbot, mysqladmin, mysqlcheck, mysqldump, id) that log their
#      arguments and print canned output. Real openssl and gzip are used for
#      certificates and dumps. Everything lives in one temporary directory that
#      is removed on exit; nothing needs root, nothing touches the network,
#      the real /etc or any service. The fake "id" makes the scripts believe
#      they run as root (or not) as each case requires.
#   3. lib/ sourcing: every script started from another working directory,
#      through a symlinked tasks/ directory and by a relative path, still
#      finds lib/common.sh (and lib/<domain>.sh).
#
# Requirements: bash 4+, coreutils, findutils, grep, sed, awk, gzip, openssl.
#
# Exit codes: 0 all checks passed, 1 at least one check failed, 2 setup failed.

# SC2015: "cond && ok ... || bad ..." is intended (ok always returns 0).
# SC2016: backticks and $ in single quotes are literal on purpose (patterns, fake tools).
# shellcheck disable=SC2015,SC2016
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cl-task-tests.XXXXXX") || exit 2
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
if [ -n "${KEEP:-}" ]; then echo "keeping $WORK"; fi
PASS=0
FAIL=0
SKIP=0
CASE=""

say() { printf '%s\n' "$*"; }
ok() {
	PASS=$((PASS + 1))
	if [ -n "${VERBOSE:-}" ]; then say "  ok   $CASE: $1"; fi
}
bad() {
	FAIL=$((FAIL + 1))
	say "  FAIL $CASE: $1"
	if [ -f "$WORK/out" ]; then sed 's/^/         stdout| /' "$WORK/out" | head -n 40; fi
	if [ -f "$WORK/err" ]; then sed 's/^/         stderr| /' "$WORK/err" | head -n 10; fi
}
skip() {
	SKIP=$((SKIP + 1))
	say "  skip $CASE: $1"
}

# ---------------------------------------------------------------------------
# 1. static checks
# ---------------------------------------------------------------------------
say "== static checks"
CASE=static
# task scripts: tasks/<module>/*.sh; the shared library tasks/lib/*.sh is no task
mapfile -t SCRIPTS < <(cd "$HERE" && find . -mindepth 2 ! -path './lib/*' -name '*.sh' -type f | sed 's|^\./||' | sort)
mapfile -t LIBS < <(cd "$HERE" && find lib -maxdepth 1 -name '*.sh' -type f 2>/dev/null | sort)
[ "${#SCRIPTS[@]}" -gt 0 ] || {
	say "no task scripts found under $HERE"
	exit 2
}

for s in "${SCRIPTS[@]}"; do
	f="$HERE/$s"
	[ -x "$f" ] && ok "$s is executable" || bad "$s is not executable"
	mode=$(stat -c %a "$f")
	[ "$mode" = 755 ] && ok "$s mode 0755" || bad "$s has mode $mode, want 755"
	first=$(head -n 1 "$f")
	case $first in
	'#!/bin/sh') sh -n "$f" && ok "sh -n $s" || bad "sh -n $s" ;;
	'#!/bin/bash') bash -n "$f" && ok "bash -n $s" || bad "bash -n $s" ;;
	*) bad "$s: unexpected interpreter line '$first'" ;;
	esac
	grep -q '^# Exit codes:' "$f" && ok "$s documents exit codes" || bad "$s has no '# Exit codes:' header"
	grep -q '^set -eu' "$f" && ok "$s uses set -eu" || bad "$s does not start with set -eu"
	if grep -qw eval "$f"; then bad "$s uses eval"; else ok "$s has no eval"; fi
	# sources lib/common.sh first, each library relative to the script's own
	# location and announced to shellcheck: the two lines
	#   # shellcheck source=../lib/<name>.sh
	#   . "$(dirname -- "$0")/../lib/<name>.sh"
	mapfile -t srcs < <(grep -E '^\. ' "$f")
	if [ "${srcs[0]:-}" = '. "$(dirname -- "$0")/../lib/common.sh"' ]; then ok "$s sources lib/common.sh first"; else bad "$s does not source lib/common.sh first"; fi
	for line in "${srcs[@]}"; do
		lib=$(printf '%s\n' "$line" | sed -n 's|^\. "\$(dirname -- "\$0")/\.\./\(lib/[a-z_]*\.sh\)"$|\1|p')
		if [ -z "$lib" ]; then
			bad "$s: '$line' does not source lib/<name>.sh relative to \$0"
		elif [ ! -f "$HERE/$lib" ]; then
			bad "$s sources $lib, which does not exist"
		elif grep -B 1 -xF "$line" "$f" | head -n 1 | grep -qxF "# shellcheck source=../$lib"; then
			ok "$s sources $lib"
		else
			bad "$s: no '# shellcheck source=../$lib' line before sourcing it"
		fi
	done
done

[ "${#LIBS[@]}" -gt 0 ] && ok "lib/*.sh found" || bad "no shared library under lib/"
for l in "${LIBS[@]}"; do
	f="$HERE/$l"
	mode=$(stat -c %a "$f")
	[ "$mode" = 644 ] && ok "$l mode 0644 (sourced, not run)" || bad "$l has mode $mode, want 644"
	[ "$(head -n 1 "$f")" = '# shellcheck shell=sh' ] && ok "$l declares shell=sh" || bad "$l: first line is not '# shellcheck shell=sh'"
	sh -n "$f" && ok "sh -n $l" || bad "sh -n $l"
	bash -n "$f" && ok "bash -n $l" || bad "bash -n $l"
	# it runs inside the scripts: no options of its own, no eval, no bash-only syntax
	if grep -qE '^[[:space:]]*set -' "$f"; then bad "$l changes shell options"; else ok "$l leaves the shell options alone"; fi
	if grep -qw eval "$f"; then bad "$l uses eval"; else ok "$l has no eval"; fi
	if grep -v '^[[:space:]]*#' "$f" | grep -qE '\[\[[[:space:]]|(^|[;&|[:space:]])(local|declare|typeset)[[:space:]]|^[[:space:]]*function[[:space:]]|<<<|\$\{[A-Za-z_]+//'; then
		bad "$l uses bash-only syntax"
	else
		ok "$l has no bash-only syntax"
	fi
done
[ -e "$HERE/lib.yaml" ] && bad "lib.yaml exists: lib/ would be loaded as a module" || ok "lib is not a task module"

if command -v shellcheck >/dev/null 2>&1; then
	# -x follows the sourced libraries (.shellcheckrc: source-path=SCRIPTDIR)
	if (cd "$HERE" && shellcheck -x "${SCRIPTS[@]}" "${LIBS[@]}" test_scripts.sh) >"$WORK/shellcheck.out" 2>&1; then
		ok "shellcheck"
	else
		bad "shellcheck reported problems"
		cat "$WORK/shellcheck.out"
	fi
else
	skip "shellcheck not installed"
fi

# Every "script:" in a module exists; every declared param is read as CL_PARAM_<NAME>.
for y in "$HERE"/*.yaml; do
	mod=$(basename "$y" .yaml)
	head -n 1 "$y" | grep -q '^#' && ok "$mod.yaml has a header comment" || bad "$mod.yaml has no header comment"
	# prints "<task> <script> <param> <param>..."
	while read -r task script params; do
		CASE="$mod.$task"
		if [ -z "$script" ] || [ "$script" = - ]; then
			bad "no script: line"
			continue
		fi
		case $script in
		*..* | /*) bad "script path $script escapes tasks/" ;;
		esac
		if [ -x "$HERE/$script" ]; then ok "script $script exists"; else bad "script $script missing or not executable"; fi
		for p in $params; do
			up=$(printf '%s' "$p" | tr '[:lower:]' '[:upper:]')
			grep -q "CL_PARAM_$up" "$HERE/$script" 2>/dev/null && ok "param $p used" ||
				bad "param $p is declared but $script never reads CL_PARAM_$up"
		done
	done < <(awk '
		/^  [A-Za-z0-9_]+:[[:space:]]*$/ { if (t != "") print t, (s == "" ? "-" : s), p; t = $1; sub(/:$/, "", t); s = ""; p = ""; inp = 0; next }
		/^    params:/ { inp = 1; next }
		/^    [a-z_]+:/ { inp = 0 }
		/^    script:/ { s = $2 }
		inp && /^      [A-Za-z0-9_]+:/ { k = $1; sub(/:.*/, "", k); p = p " " k }
		END { if (t != "") print t, (s == "" ? "-" : s), p }' "$y")
done
CASE=static
used=$(cat "$HERE"/*.yaml | awk '/^    script:/ { print $2 }' | sort)
for s in "${SCRIPTS[@]}"; do
	printf '%s\n' "$used" | grep -qxF "$s" && ok "$s is referenced by a module" || bad "$s is not referenced by any module .yaml"
done

# ---------------------------------------------------------------------------
# 2. sandbox
# ---------------------------------------------------------------------------
SYSBIN="$WORK/sysbin"
FAKES="$WORK/fakes"
mkdir -p "$SYSBIN" "$FAKES" "$WORK/home" "$WORK/tmp" "$WORK/release" || exit 2
for u in sh bash cat grep sed awk find sort head tail wc tr mktemp rm mv ln readlink date \
	printf env uname du cut cksum gzip touch mkdir chmod ls flock sleep stat basename dirname \
	expr true false test; do
	if p=$(command -v "$u" 2>/dev/null) && [ "${p#/}" != "$p" ]; then
		ln -s "$p" "$SYSBIN/$u"
	fi
done
for u in sh cat grep sed awk find sort tail mktemp date gzip; do
	[ -e "$SYSBIN/$u" ] || {
		say "setup: required utility $u not found"
		exit 2
	}
done
command -v openssl >/dev/null 2>&1 || {
	say "setup: openssl is required to generate test certificates"
	exit 2
}

# fake <name> <body>: creates $FAKES/<name>/<name>; every fake logs "<name> <args>" to $FAKE_LOG
fake() {
	mkdir -p "$FAKES/$1"
	{
		printf '#!/bin/sh\necho "${0##*/} $*" >>"${FAKE_LOG:-/dev/null}"\n'
		cat
	} >"$FAKES/$1/$1"
	chmod 0755 "$FAKES/$1/$1"
}
# alias <name> <fake>: the same fake under another command name
alias_fake() {
	mkdir -p "$FAKES/$1"
	cp "$FAKES/$2/$2" "$FAKES/$1/$1"
}

fake id <<'EOF'
case "${1:-}" in
-u) echo "${FAKE_UID:-0}" ;;
*) echo "uid=${FAKE_UID:-0}(fake) gid=0(fake)" ;;
esac
EOF

fake apt-get <<'EOF'
sim=""
for a in "$@"; do
	if [ "$a" = -s ]; then sim=1; fi
done
if [ -n "$sim" ]; then
	[ -z "${FAKE_APT_EMPTY:-}" ] || exit 0
	case "$*" in
	*autoremove*)
		echo "Remv linux-image-6.1.0-9-amd64 [6.1.27-1]"
		echo "Remv libold1 [1.0-1]"
		;;
	*)
		cat <<'EOT'
Reading package lists...
Building dependency tree...
Calculating upgrade...
The following packages have been kept back:
  linux-image-amd64
The following packages will be upgraded:
  libssl3 openssl vim
3 upgraded, 0 newly installed, 0 to remove and 1 not upgraded.
Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
Inst openssl [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
Inst vim [2:9.0.1378-2] (2:9.0.1378-2+deb12u1 Debian:12.5/stable [amd64])
Inst libnew1 (1.2-1 Debian-Security:12/stable-security [amd64])
Conf libssl3 (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
EOT
		;;
	esac
	exit 0
fi
case "$*" in
*" update"*)
	echo "Hit:1 http://deb.debian.org/debian bookworm InRelease"
	exit 0
	;;
esac
if [ "${FAKE_APT_RC:-0}" -ne 0 ]; then
	echo "E: Sub-process /usr/bin/dpkg returned an error code (1)"
	exit "$FAKE_APT_RC"
fi
echo "Setting up fake packages ..."
EOF

fake nginx <<'EOF'
case "${1:-}" in
-v)
	echo "nginx version: nginx/1.22.1" >&2
	exit 0
	;;
-t)
	# the configuration is "broken" when FAKE_RC says so or a site called "broken" is enabled
	if [ "${FAKE_NGINX_RC:-0}" -ne 0 ] || { [ -n "${FAKE_NGINX_ENABLED:-}" ] && [ -e "$FAKE_NGINX_ENABLED/broken" ]; }; then
		echo 'nginx: [emerg] unknown directive "lisen" in /etc/nginx/sites-enabled/broken:3' >&2
		echo "nginx: configuration file /etc/nginx/nginx.conf test failed" >&2
		exit 1
	fi
	echo "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok" >&2
	echo "nginx: configuration file /etc/nginx/nginx.conf test is successful" >&2
	exit 0
	;;
esac
exit 0
EOF

fake systemctl <<'EOF'
case "${1:-}" in
is-active)
	echo "${FAKE_STATE:-active}"
	[ "${FAKE_STATE:-active}" = active ]
	;;
is-enabled) echo enabled ;;
reload) exit "${FAKE_RELOAD_RC:-0}" ;;
*) exit 0 ;;
esac
EOF

fake ss <<'EOF'
cat <<'EOT'
State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
LISTEN 0      511          0.0.0.0:80        0.0.0.0:*     users:(("nginx",pid=813,fd=6),("nginx",pid=812,fd=6))
LISTEN 0      511          0.0.0.0:443       0.0.0.0:*     users:(("nginx",pid=813,fd=8),("nginx",pid=812,fd=8))
LISTEN 0      128          0.0.0.0:22        0.0.0.0:*     users:(("sshd",pid=500,fd=3))
LISTEN 0      511             [::]:80           [::]:*     users:(("nginx",pid=813,fd=7),("nginx",pid=812,fd=7))
EOT
EOF

fake pgrep <<'EOF'
echo "${FAKE_WORKERS:-4}"
EOF

fake certbot <<'EOF'
if [ -n "${FAKE_CERTBOT_RENEW:-}" ]; then
	echo "# renewed" >>"$FAKE_CERTBOT_RENEW"
fi
if [ "${FAKE_CERTBOT_RC:-0}" -ne 0 ]; then
	echo "Failed to renew certificate example.com with error: Some challenges have failed." >&2
fi
exit "${FAKE_CERTBOT_RC:-0}"
EOF

fake mysqladmin <<'EOF'
cmd=""
for a in "$@"; do cmd=$a; done
if [ -n "${FAKE_MYSQL_DOWN:-}" ]; then
	echo "${0##*/}: connect to server at 'localhost' failed" >&2
	echo "error: 'Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)'" >&2
	exit 1
fi
case $cmd in
ping) echo "mysqld is alive" ;;
status) echo "Uptime: 3600  Threads: 1  Questions: 42  Slow queries: 0  Opens: 20  Open tables: 13  Queries per second avg: 0.011" ;;
version) printf '%s\n' "mysqladmin  Ver 9.1 Distrib 10.11.6-MariaDB" "" "Server version		10.11.6-MariaDB-0+deb12u1" "Protocol version	10" ;;
esac
EOF
alias_fake mariadb-admin mysqladmin

fake mysqlcheck <<'EOF'
case " $* " in
*" unknowndb "*)
	echo "${0##*/}: Got error: 1049: Unknown database 'unknowndb' when selecting the database"
	exit 2
	;;
esac
echo "shop.customers                                     OK"
echo "shop.orders"
if [ -n "${FAKE_CHECK_BAD:-}" ]; then
	echo "warning  : Table is marked as crashed"
	echo "error    : Corrupt"
else
	echo "note     : Table does not support optimize, doing recreate + analyze instead"
	echo "status   : OK"
fi
echo "shop.products                                      OK"
echo "shop.reviews"
echo "warning  : 1 client is using or hasn't closed the table properly"
echo "status   : OK"
EOF
alias_fake mariadb-check mysqlcheck

fake mysqldump <<'EOF'
cat <<'EOT'
-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database:
CREATE TABLE `t` (`id` int NOT NULL);
INSERT INTO `t` VALUES (1),(2),(3);
EOT
if [ -n "${FAKE_DUMP_FAIL:-}" ]; then
	echo "mysqldump: Error 2013: Lost connection to server during query when dumping table \`t\` at row: 2" >&2
	exit 2
fi
echo "-- Dump completed on 2024-01-01  1:00:00"
EOF
alias_fake mariadb-dump mysqldump

mkdir -p "$FAKES/openssl" && ln -s "$(command -v openssl)" "$FAKES/openssl/openssl"

# run <script> "<fake tools>" [VAR=value...]: runs a task script in the sandbox;
# sets RC, leaves stdout in $WORK/out, stderr in $WORK/err, fake calls in $WORK/fake.log
run() { run_as . "$HERE/$1" "$@"; }
# run_as <dir> <path> <script> "<fake tools>" [VAR=value...]: like run, but
# starts <script> as <path> (absolute, or relative to <dir>) from the working
# directory <dir>
run_as() {
	local dir=$1 path=$2 script=$3 tools=$4 p="" t
	shift 4
	for t in $tools; do p="$p$FAKES/$t:"; done
	: >"$WORK/fake.log"
	(
		cd "$dir" || exit 99
		exec env -i PATH="$p$SYSBIN" HOME="$WORK/home" TMPDIR="$WORK/tmp" LC_ALL=C \
			CL_TASK="$(dirname "$script").$(basename "$script" .sh)" CL_RUN_ID=test-run-1 \
			CL_HOST=testhost CL_RELEASE_DIR="$WORK/release" FAKE_LOG="$WORK/fake.log" \
			"$@" "$path"
	) >"$WORK/out" 2>"$WORK/err" </dev/null
	RC=$?
}
# expect_rc N: checks the exit code; for failures also the one-line stderr contract
expect_rc() {
	if [ "$RC" -eq "$1" ]; then ok "exit $1"; else bad "exit $RC, want $1"; fi
	if [ "$1" -ne 0 ]; then
		n=$(wc -l <"$WORK/err")
		[ "$n" -eq 1 ] && ok "one-line reason on stderr" || bad "stderr has $n lines, want exactly 1"
	fi
}
out_has() { grep -qE -- "$1" "$WORK/out" && ok "stdout ~ $1" || bad "stdout lacks /$1/"; }
out_lacks() { grep -qE -- "$1" "$WORK/out" && bad "stdout unexpectedly ~ /$1/" || ok "stdout !~ $1"; }
err_has() { grep -qE -- "$1" "$WORK/err" && ok "stderr ~ $1" || bad "stderr lacks /$1/"; }
log_has() { grep -qE -- "$1" "$WORK/fake.log" && ok "called ~ $1" || bad "no call matching /$1/ (log: $(tr '\n' ';' <"$WORK/fake.log"))"; }
log_lacks() { grep -qE -- "$1" "$WORK/fake.log" && bad "unexpected call matching /$1/" || ok "no call ~ $1"; }
# real_tool_visible <tool>: the scripts append the sbin directories to PATH, so a
# really installed tool there can't be hidden by the sandbox
real_tool_visible() {
	local d
	for d in /usr/local/sbin /usr/sbin /sbin; do
		if [ -x "$d/$1" ]; then return 0; fi
	done
	return 1
}

# ---------------------------------------------------------------------------
say "== apt_management"
S=apt_management/check_security_updates.sh
CASE="check_security_updates, apt-get absent"
if real_tool_visible apt-get; then skip "apt-get installed in an sbin directory"; else
	run $S "id"
	expect_rc 3
	err_has "apt-get not found"
fi

CASE="check_security_updates, report only (notify)"
run $S "id apt-get" FAKE_UID=0 CL_PARAM_AUTO_INSTALL=false CL_PARAM_NOTIFY=true
expect_rc 0
out_has "^3 security update\(s\) pending on testhost"
out_has "libssl3 3.0.11-1~deb12u1 -> 3.0.11-1~deb12u2"
out_has "libnew1 \(new\) -> 1.2-1"
out_lacks "vim"
out_has "^NOTIFY: \[testhost\] 3 security update\(s\) pending: libssl3 openssl libnew1 \(auto_install=false\)"
log_has "apt-get .*update"
log_lacks "install"

CASE="check_security_updates, not root"
run $S "id apt-get" FAKE_UID=1000
expect_rc 0
out_has "not running as root"
log_lacks " update"

CASE="check_security_updates, auto_install as non-root"
run $S "id apt-get" FAKE_UID=1000 CL_PARAM_AUTO_INSTALL=true
expect_rc 4

CASE="check_security_updates, auto_install as root"
run $S "id apt-get" FAKE_UID=0 CL_PARAM_AUTO_INSTALL=true CL_PARAM_NOTIFY=true
expect_rc 0
log_has "apt-get .*install --only-upgrade libssl3 openssl$"
out_has "^NOTIFY: \[testhost\] installed 3 security update\(s\)"

CASE="check_security_updates, install fails"
run $S "id apt-get" FAKE_UID=0 CL_PARAM_AUTO_INSTALL=true FAKE_APT_RC=100
expect_rc 1
err_has "install of security updates failed"

CASE="check_security_updates, nothing pending"
run $S "id apt-get" FAKE_UID=0 FAKE_APT_EMPTY=1 CL_PARAM_NOTIFY=true CL_PARAM_AUTO_INSTALL=true
expect_rc 0
out_has "^0 security update\(s\) pending"
out_has "^NOTIFY: \[testhost\] no security updates pending"
log_lacks "install"

CASE="check_security_updates, bad bool"
run $S "id apt-get" CL_PARAM_NOTIFY=maybe
expect_rc 2
err_has "invalid value for notify"

S=apt_management/upgrade_packages.sh
CASE="upgrade_packages, default dry run"
run $S "id apt-get" FAKE_UID=1000
expect_rc 0
out_has "^dry run: 4 package\(s\) would be upgraded"
out_has "kept back .*linux-image-amd64"
out_has "^dry run: using the package lists already on testhost"
log_lacks "-y"

CASE="upgrade_packages, dry run as root does not refresh"
run $S "id apt-get" FAKE_UID=0
expect_rc 0
out_has "^dry run: 4 package\(s\) would be upgraded"
log_lacks " update"
log_lacks "-y"

CASE="upgrade_packages, real run as non-root"
run $S "id apt-get" FAKE_UID=1000 CL_PARAM_DRY_RUN=false
expect_rc 4

CASE="upgrade_packages, real run as root"
run $S "id apt-get" FAKE_UID=0 CL_PARAM_DRY_RUN=false
expect_rc 0
log_has "apt-get .*-y .*upgrade --with-new-pkgs"
out_has "^upgraded 4 package"

S=apt_management/autoremove.sh
CASE="autoremove, dry run"
run $S "id apt-get" FAKE_UID=1000 CL_PARAM_DRY_RUN=true
expect_rc 0
out_has "2 package\(s\) would be removed"
log_lacks "-y"

CASE="autoremove, purge as root"
run $S "id apt-get" FAKE_UID=0 CL_PARAM_PURGE=true
expect_rc 0
log_has "apt-get .*-y .*autoremove --purge"

CASE="autoremove, nothing to remove"
run $S "id apt-get" FAKE_UID=0 FAKE_APT_EMPTY=1
expect_rc 0
out_has "nothing to autoremove"
log_lacks "-y"

# ---------------------------------------------------------------------------
say "== nginx_management"
NG="$WORK/nginx"
mkdir -p "$NG/sites-available" "$NG/sites-enabled"
echo "server { listen 80; server_name example.com; }" >"$NG/sites-available/example.com"
echo "server { lisen 80; }" >"$NG/sites-available/broken"
echo "server { listen 8080; }" >"$NG/sites-enabled/handmade"

for t in test_config reload status enable_site disable_site; do
	CASE="$t, nginx absent"
	if real_tool_visible nginx; then skip "nginx is installed on this machine"; else
		run nginx_management/$t.sh "id systemctl" CL_PARAM_SITE=example.com CL_PARAM_CONF_DIR="$NG"
		expect_rc 3
		err_has 'nginx is not installed: run `cl task install nginx --target testhost`'
	fi
done

S=nginx_management/test_config.sh
CASE="test_config, valid"
run $S "id nginx"
expect_rc 0
out_has "syntax is ok"
CASE="test_config, invalid"
run $S "id nginx" FAKE_NGINX_RC=1
expect_rc 1
err_has 'test failed: nginx: \[emerg\] unknown directive'
CASE="test_config, not root"
run $S "id nginx" FAKE_UID=1000
expect_rc 4

S=nginx_management/reload.sh
CASE="reload, running"
run $S "id nginx systemctl"
expect_rc 0
log_has "nginx -t"
log_has "systemctl reload nginx"
CASE="reload, broken config"
run $S "id nginx systemctl" FAKE_NGINX_RC=1
expect_rc 1
log_lacks "systemctl reload"
CASE="reload, stopped"
run $S "id nginx systemctl" FAKE_STATE=inactive
expect_rc 5
err_has "not running \(state: inactive\)"
log_lacks "systemctl reload"
CASE="reload, systemctl absent"
run $S "id nginx"
expect_rc 3

S=nginx_management/status.sh
CASE="status, active"
run $S "id nginx systemctl ss pgrep" FAKE_WORKERS=4
expect_rc 0
out_has "^nginx: nginx/1.22.1"
out_has "^service: active \(enabled: enabled\)"
out_has "^worker processes: 4"
out_has "^listening: 0.0.0.0:443 0.0.0.0:80 \[::\]:80$"
out_lacks ":22"
CASE="status, inactive, no pgrep, no ss"
run $S "id nginx systemctl" FAKE_STATE=failed
expect_rc 5
out_has "^worker processes: [0-9]+"
out_has "ss from iproute2 is not installed"
err_has "state: failed"

S=nginx_management/enable_site.sh
NGENV=(CL_PARAM_CONF_DIR="$NG" FAKE_NGINX_ENABLED="$NG/sites-enabled")
CASE="enable_site, first run"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=example.com
expect_rc 0
[ "$(readlink "$NG/sites-enabled/example.com")" = "$NG/sites-available/example.com" ] && ok "symlink created" || bad "symlink missing"
log_has "systemctl reload nginx"
CASE="enable_site, second run"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=example.com
expect_rc 0
out_has "already enabled"
CASE="enable_site, reload=false, nginx stopped"
rm -f "$NG/sites-enabled/example.com"
run $S "id nginx" "${NGENV[@]}" CL_PARAM_SITE=example.com CL_PARAM_RELOAD=false
expect_rc 0
[ -L "$NG/sites-enabled/example.com" ] && ok "symlink created" || bad "symlink missing"
log_lacks "systemctl"
CASE="enable_site, nginx stopped"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=example.com FAKE_STATE=inactive
expect_rc 0
out_has "not running \(state: inactive\); not reloaded"
log_lacks "systemctl reload"
CASE="enable_site, broken site is rolled back"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=broken
expect_rc 1
[ ! -e "$NG/sites-enabled/broken" ] && [ ! -L "$NG/sites-enabled/broken" ] && ok "link removed" || bad "broken link left behind"
err_has "link removed"
log_lacks "systemctl reload"
CASE="enable_site, unknown site"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=nosuch.example
expect_rc 6
CASE="enable_site, regular file in sites-enabled"
cp "$NG/sites-enabled/handmade" "$NG/sites-available/handmade"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=handmade
expect_rc 1
[ -f "$NG/sites-enabled/handmade" ] && [ ! -L "$NG/sites-enabled/handmade" ] && ok "file untouched" || bad "file replaced"
for bad_site in .. . .hidden a/b '' 'x y'; do
	CASE="enable_site, invalid site '$bad_site'"
	run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE="$bad_site"
	expect_rc 2
done
CASE="enable_site, relative conf_dir"
run $S "id nginx systemctl" CL_PARAM_CONF_DIR=etc/nginx CL_PARAM_SITE=example.com
expect_rc 2
CASE="enable_site, not root"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=example.com FAKE_UID=1000
expect_rc 4

S=nginx_management/disable_site.sh
CASE="disable_site, first run"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=example.com
expect_rc 0
[ ! -L "$NG/sites-enabled/example.com" ] && ok "symlink removed" || bad "symlink still there"
[ -f "$NG/sites-available/example.com" ] && ok "sites-available untouched" || bad "sites-available file gone"
log_has "systemctl reload nginx"
CASE="disable_site, second run"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=example.com
expect_rc 0
out_has "already disabled"
CASE="disable_site, regular file"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=handmade
expect_rc 1
[ -f "$NG/sites-enabled/handmade" ] && ok "file untouched" || bad "file deleted"
CASE="disable_site, config test fails -> link restored"
ln -s "$NG/sites-available/example.com" "$NG/sites-enabled/example.com"
run $S "id nginx systemctl" "${NGENV[@]}" CL_PARAM_SITE=example.com FAKE_NGINX_RC=1
expect_rc 1
[ "$(readlink "$NG/sites-enabled/example.com")" = "$NG/sites-available/example.com" ] && ok "link restored" || bad "link not restored"

# ---------------------------------------------------------------------------
say "== ssl_management"
CERTS="$WORK/live"
mkcert() { # mkcert <dir> <cn> <days>
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$1/privkey.pem" -out "$1/cert.pem" -days "$3" -subj "/CN=$2" >/dev/null 2>&1
}
mkcert "$CERTS/soon.example.com" soon.example.com 5 || {
	say "setup: openssl could not create a test certificate"
	exit 2
}
mkcert "$CERTS/later.example.com" later.example.com 365
cp "$CERTS/later.example.com/cert.pem" "$CERTS/later.example.com/fullchain.pem"

S=ssl_management/check_expiry.sh
CASE="check_expiry, openssl absent"
if real_tool_visible openssl; then skip "openssl installed in an sbin directory"; else
	run $S "id" CL_PARAM_PATH="$CERTS"
	expect_rc 3
	err_has "openssl is not installed"
fi
CASE="check_expiry, one cert expires in 5 days (window 21)"
run $S "id openssl" CL_PARAM_PATH="$CERTS"
expect_rc 1
out_has "^EXPIRING +$CERTS/soon.example.com/cert.pem +expires .* \([45] days\)"
out_has "^OK +$CERTS/later.example.com/cert.pem"
out_lacks "fullchain|privkey"
out_has "checked 2 certificate"
err_has "1 certificate\(s\) expire within 21 days"
CASE="check_expiry, window 3 days"
run $S "id openssl" CL_PARAM_PATH="$CERTS" CL_PARAM_DAYS=3
expect_rc 0
CASE="check_expiry, single file"
run $S "id openssl" CL_PARAM_PATH="$CERTS/later.example.com/cert.pem" CL_PARAM_DAYS=030
expect_rc 0
out_has "^OK "
CASE="check_expiry, generic directory (*.crt, no cert.pem)"
mkdir -p "$WORK/certs"
cp "$CERTS/soon.example.com/cert.pem" "$WORK/certs/soon.crt"
cp "$CERTS/soon.example.com/privkey.pem" "$WORK/certs/soon.key.pem"
echo "not a certificate" >"$WORK/certs/notes.pem"
run $S "id openssl" CL_PARAM_PATH="$WORK/certs" CL_PARAM_DAYS=10
expect_rc 1
out_has "^EXPIRING +$WORK/certs/soon.crt"
out_has "checked 1 certificate"
CASE="check_expiry, garbage certificate"
echo "-----BEGIN CERTIFICATE-----" >"$WORK/certs/garbage.crt"
run $S "id openssl" CL_PARAM_PATH="$WORK/certs/garbage.crt"
expect_rc 1
out_has "^ERROR "
CASE="check_expiry, missing path"
run $S "id openssl" CL_PARAM_PATH="$WORK/nonexistent"
expect_rc 6
CASE="check_expiry, no certificates"
mkdir -p "$WORK/empty"
run $S "id openssl" CL_PARAM_PATH="$WORK/empty"
expect_rc 6
for d in abc -1 99999 ''; do
	CASE="check_expiry, invalid days '$d'"
	run $S "id openssl" CL_PARAM_PATH="$CERTS" CL_PARAM_DAYS="$d"
	if [ -z "$d" ]; then expect_rc 1; else expect_rc 2; fi # empty = default 21
done

S=ssl_management/renew.sh
CASE="renew, certbot absent"
if real_tool_visible certbot; then skip "certbot installed in an sbin directory"; else
	run $S "id nginx systemctl" CL_PARAM_PATH="$CERTS"
	expect_rc 3
	err_has "certbot is not installed"
fi
CASE="renew, not root"
run $S "id certbot nginx systemctl" FAKE_UID=1000 CL_PARAM_PATH="$CERTS"
expect_rc 4
CASE="renew, nothing due"
run $S "id certbot nginx systemctl" CL_PARAM_PATH="$CERTS"
expect_rc 0
log_has "certbot renew --quiet --non-interactive"
out_has "no certificate changed"
log_lacks "systemctl reload"
CASE="renew, one renewed"
run $S "id certbot nginx systemctl" CL_PARAM_PATH="$CERTS" FAKE_CERTBOT_RENEW="$CERTS/soon.example.com/cert.pem"
expect_rc 0
out_has "^  $CERTS/soon.example.com/cert.pem$"
log_has "nginx -t"
log_has "systemctl reload nginx"
CASE="renew, renewed but reload_nginx=false"
run $S "id certbot nginx systemctl" CL_PARAM_PATH="$CERTS" CL_PARAM_RELOAD_NGINX=false FAKE_CERTBOT_RENEW="$CERTS/soon.example.com/cert.pem"
expect_rc 0
log_lacks "systemctl reload"
CASE="renew, renewed but nginx config broken"
run $S "id certbot nginx systemctl" CL_PARAM_PATH="$CERTS" FAKE_NGINX_RC=1 FAKE_CERTBOT_RENEW="$CERTS/soon.example.com/cert.pem"
expect_rc 1
log_lacks "systemctl reload"
CASE="renew, dry run"
run $S "id certbot nginx systemctl" CL_PARAM_PATH="$CERTS" CL_PARAM_DRY_RUN=true
expect_rc 0
log_has "certbot renew .*--dry-run"
CASE="renew, certbot fails"
run $S "id certbot nginx systemctl" CL_PARAM_PATH="$CERTS" FAKE_CERTBOT_RC=1
expect_rc 1
err_has "certbot renew failed \(exit 1\): Failed to renew"

# ---------------------------------------------------------------------------
say "== mysql_management"
for t in status check_tables optimize_tables; do
	CASE="$t, client tools absent"
	run mysql_management/$t.sh "id" CL_PARAM_DATABASE=shop
	expect_rc 3
	err_has 'client tools are not installed .*cl task install mariadb-client --target testhost'
done

S=mysql_management/status.sh
CASE="status, mysqladmin"
run $S "id mysqladmin"
expect_rc 0
out_has "^server version: 10.11.6-MariaDB-0\+deb12u1"
out_has "^Uptime: 3600"
log_has "^mysqladmin ping"
CASE="status, prefers mariadb-admin"
run $S "id mariadb-admin mysqladmin"
expect_rc 0
log_has "^mariadb-admin status"
log_lacks "^mysqladmin"
CASE="status, server down"
run $S "id mysqladmin" FAKE_MYSQL_DOWN=1
expect_rc 5
err_has "cannot connect .*Can't connect to local server"
CASE="status, defaults_file"
echo "[client]" >"$WORK/my.cnf"
run $S "id mysqladmin" CL_PARAM_DEFAULTS_FILE="$WORK/my.cnf"
expect_rc 0
log_has "^mysqladmin --defaults-extra-file=$WORK/my.cnf ping"
CASE="status, missing defaults_file"
run $S "id mysqladmin" CL_PARAM_DEFAULTS_FILE="$WORK/nope.cnf"
expect_rc 2

S=mysql_management/check_tables.sh
CASE="check_tables, all databases"
run $S "id mysqladmin mysqlcheck"
expect_rc 0
log_has "^mysqlcheck --check --all-databases"
out_has "checked 4 table\(s\) in all databases on testhost: 0 with errors, 1 with warnings"
out_has "^WARNING shop.reviews"
CASE="check_tables, one database with a corrupt table"
run $S "id mysqladmin mysqlcheck" CL_PARAM_DATABASE=shop FAKE_CHECK_BAD=1
expect_rc 1
log_has "^mysqlcheck --check --databases shop$"
out_has "^ERROR   shop.orders: Corrupt"
err_has "1 table\(s\) with errors in database shop"
CASE="check_tables, unknown database"
run $S "id mysqladmin mysqlcheck" CL_PARAM_DATABASE=unknowndb
expect_rc 6
CASE="check_tables, server down"
run $S "id mysqladmin mysqlcheck" FAKE_MYSQL_DOWN=1
expect_rc 5
log_lacks "mysqlcheck"
for d in 'shop;drop' '-x' 'a b' '../x'; do
	CASE="check_tables, invalid database '$d'"
	run $S "id mysqladmin mysqlcheck" CL_PARAM_DATABASE="$d"
	expect_rc 2
done

S=mysql_management/optimize_tables.sh
CASE="optimize_tables, missing database"
run $S "id mysqladmin mysqlcheck"
expect_rc 2
CASE="optimize_tables, virtual schema"
run $S "id mysqladmin mysqlcheck" CL_PARAM_DATABASE=INFORMATION_SCHEMA
expect_rc 2
CASE="optimize_tables, shop (mariadb-check)"
run $S "id mariadb-admin mariadb-check" CL_PARAM_DATABASE=shop
expect_rc 0
log_has "^mariadb-check --optimize --databases shop$"
out_has "optimized 4 table\(s\) in database shop: 0 with errors"
CASE="optimize_tables, failure"
run $S "id mysqladmin mysqlcheck" CL_PARAM_DATABASE=shop FAKE_CHECK_BAD=1
expect_rc 1

# ---------------------------------------------------------------------------
say "== backup_tasks"
B="$WORK/backups/mysql"
S=backup_tasks/backup_databases.sh
CASE="backup_databases, mysqldump absent"
run $S "id" CL_PARAM_DESTINATION="$B"
expect_rc 3
err_has "need mariadb-dump or mysqldump"
[ ! -e "$B" ] && ok "destination not created" || bad "destination created although nothing can be dumped"

CASE="backup_databases, compressed, all databases"
run $S "id mysqldump" CL_PARAM_DESTINATION="$B" CL_PARAM_COMPRESSION=true CL_PARAM_RETENTION_DAYS=30
expect_rc 0
mapfile -t files < <(find "$B" -maxdepth 1 -name 'mysql-all-*.sql.gz')
[ "${#files[@]}" -eq 1 ] && ok "one dump file" || bad "${#files[@]} dump files, want 1"
f=${files[0]:-/nonexistent}
[[ ${f##*/} =~ ^mysql-all-[0-9]{8}T[0-9]{6}Z\.sql\.gz$ ]] && ok "file name" || bad "unexpected file name ${f##*/}"
gzip -t "$f" 2>/dev/null && ok "gzip -t" || bad "gzip integrity"
gzip -dc "$f" 2>/dev/null | grep -q 'INSERT INTO `t`' && ok "dump content" || bad "dump content missing"
[ "$(stat -c %a "$f" 2>/dev/null)" = 600 ] && ok "dump mode 0600" || bad "dump mode $(stat -c %a "$f" 2>/dev/null)"
[ "$(stat -c %a "$B")" = 700 ] && ok "destination mode 0700" || bad "destination mode $(stat -c %a "$B")"
out_has "^backup: $f \([0-9]+ bytes, [0-9.]+[KMG]?\)$"
log_has "^mysqldump --single-transaction .*--all-databases$"
[ -z "$(find "$B" -name '.mysql-*')" ] && ok "no temp files left" || bad "temp files left behind"

CASE="backup_databases, second run in the same second keeps both"
run $S "id mysqldump" CL_PARAM_DESTINATION="$B"
expect_rc 0
n=$(find "$B" -maxdepth 1 -name 'mysql-all-*.sql.gz' | wc -l)
[ "$n" -eq 2 ] && ok "two dump files" || bad "$n dump files, want 2"

CASE="backup_databases, pruning"
touch -d '40 days ago' "$B/mysql-all-20200101T010000Z.sql.gz" "$B/notes.txt"
touch -d '10 days ago' "$B/mysql-all-20200201T010000Z.sql.gz"
touch -d '3 days ago' "$B/.mysql-all-20200301T010000Z.abcdef.tmp"
run $S "id mysqldump" CL_PARAM_DESTINATION="$B" CL_PARAM_RETENTION_DAYS=30
expect_rc 0
[ ! -e "$B/mysql-all-20200101T010000Z.sql.gz" ] && ok "40-day-old dump pruned" || bad "old dump not pruned"
[ -e "$B/mysql-all-20200201T010000Z.sql.gz" ] && ok "10-day-old dump kept" || bad "recent dump pruned"
[ -e "$B/notes.txt" ] && ok "foreign file kept" || bad "foreign file deleted"
[ ! -e "$B/.mysql-all-20200301T010000Z.abcdef.tmp" ] && ok "stale temp file removed" || bad "stale temp file kept"
out_has "^pruned: $B/mysql-all-20200101T010000Z.sql.gz$"
out_has "^pruned 1 dump"

CASE="backup_databases, retention_days=0 keeps everything"
touch -d '400 days ago' "$B/mysql-all-20190101T010000Z.sql.gz"
run $S "id mysqldump" CL_PARAM_DESTINATION="$B" CL_PARAM_RETENTION_DAYS=0
expect_rc 0
[ -e "$B/mysql-all-20190101T010000Z.sql.gz" ] && ok "old dump kept" || bad "old dump pruned with retention 0"
rm -f "$B/mysql-all-20190101T010000Z.sql.gz" "$B/mysql-all-20200201T010000Z.sql.gz"

CASE="backup_databases, uncompressed per-database (mariadb-dump, defaults_file)"
run $S "id mariadb-dump mysqldump" CL_PARAM_DESTINATION="$B/plain" CL_PARAM_COMPRESSION=false \
	CL_PARAM_DATABASES="shop, blog" CL_PARAM_DEFAULTS_FILE="$WORK/my.cnf"
expect_rc 0
for db in shop blog; do
	n=$(find "$B/plain" -maxdepth 1 -name "mysql-$db-*.sql" | wc -l)
	[ "$n" -eq 1 ] && ok "$db dump" || bad "$n $db dumps, want 1"
	log_has "^mariadb-dump --defaults-extra-file=$WORK/my.cnf --single-transaction .* --databases $db$"
done
log_lacks "all-databases"

CASE="backup_databases, dump fails"
before=$(find "$B" -maxdepth 1 -type f | sort)
run $S "id mysqldump" CL_PARAM_DESTINATION="$B" FAKE_DUMP_FAIL=1
expect_rc 1
err_has "dump of all failed: mysqldump: Error 2013"
[ "$(find "$B" -maxdepth 1 -type f | sort)" = "$before" ] && ok "no new or partial file" || bad "files changed after a failed dump"

for kv in CL_PARAM_RETENTION_DAYS=-1 CL_PARAM_RETENTION_DAYS=x CL_PARAM_COMPRESSION=maybe \
	CL_PARAM_DESTINATION=relative/dir CL_PARAM_DESTINATION=/ CL_PARAM_DESTINATION=/tmp/../etc \
	"CL_PARAM_DATABASES=shop;drop" "CL_PARAM_DATABASES=," CL_PARAM_DATABASES=all; do
	CASE="backup_databases, invalid $kv"
	run $S "id mysqldump" CL_PARAM_DESTINATION="$B" "$kv"
	expect_rc 2
done

S=backup_tasks/verify_latest.sh
CASE="verify_latest, good dumps"
run $S "id" CL_PARAM_DESTINATION="$B"
expect_rc 0
out_has "^OK +$B/mysql-all-"
out_has "verified the newest dump of 1 backup set"
run $S "id" CL_PARAM_DESTINATION="$B/plain" CL_PARAM_MAX_AGE_HOURS=24
CASE="verify_latest, plain per-database dumps"
expect_rc 0
out_has "of 2 backup set"
CASE="verify_latest, corrupt newest dump"
newest="$B/mysql-all-29990101T000000Z.sql.gz"
head -c 40 "$f" >"$newest"
run $S "id" CL_PARAM_DESTINATION="$B"
expect_rc 1
out_has "^FAILED +$newest .*gzip integrity check failed"
CASE="verify_latest, truncated dump (no trailer)"
printf 'CREATE TABLE `t` (`id` int);\n' | gzip -c >"$newest"
run $S "id" CL_PARAM_DESTINATION="$B"
expect_rc 1
out_has "incomplete dump"
CASE="verify_latest, empty dump"
: >"$newest"
run $S "id" CL_PARAM_DESTINATION="$B"
expect_rc 1
out_has "empty file"
rm -f "$newest"
CASE="verify_latest, too old"
touch -d '3 days ago' "$B"/mysql-all-*.sql.gz
run $S "id" CL_PARAM_DESTINATION="$B" CL_PARAM_MAX_AGE_HOURS=26
expect_rc 1
out_has "too old \(7[0-9]h"
CASE="verify_latest, no dumps"
run $S "id" CL_PARAM_DESTINATION="$WORK/empty"
expect_rc 6
CASE="verify_latest, missing destination"
run $S "id" CL_PARAM_DESTINATION="$WORK/nope"
expect_rc 6
CASE="verify_latest, invalid max_age_hours"
run $S "id" CL_PARAM_DESTINATION="$B" CL_PARAM_MAX_AGE_HOURS=-3
expect_rc 2

# ---------------------------------------------------------------------------
# 3. lib/ sourcing
# ---------------------------------------------------------------------------
say "== lib/ sourcing"
# A release whose tasks/ is a symlink to this directory, and an unrelated
# working directory. CL_RELEASE_DIR points nowhere: the scripts must find
# lib/ relative to their own path ($0), not through it or the cwd.
REL="$WORK/linked-release"
mkdir -p "$REL" "$WORK/elsewhere" || exit 2
ln -s "$HERE" "$REL/tasks" || exit 2
NOREL=CL_RELEASE_DIR="$WORK/nonexistent"

# Every script, started through the symlinked tasks/ from another directory:
# whatever it finds missing in the sandbox, it must end with a documented exit
# code and, when it fails, with the one-line "<task>: reason" of die(), which
# only lib/common.sh defines (a failed "." prints the shell's own error).
for s in "${SCRIPTS[@]}"; do
	CASE="$s via symlinked tasks/ from another cwd"
	task="$(dirname "$s").$(basename "$s" .sh)"
	run_as "$WORK/elsewhere" "$REL/tasks/$s" "$s" "id" "$NOREL" CL_PARAM_DESTINATION="$WORK/nope"
	codes=$(sed -n '/^# Exit codes:/,/^[^#]/s/^#   \([0-9]\)  .*/\1/p' "$HERE/$s" | tr '\n' ' ')
	case " $codes" in
	*" $RC "*) ok "exit $RC is documented ($codes)" ;;
	*) bad "exit $RC is not one of the documented codes ($codes)" ;;
	esac
	if [ "$RC" -eq 0 ]; then
		ok "ran to the end"
	elif [ "$(wc -l <"$WORK/err")" -eq 1 ] && grep -q "^$task: " "$WORK/err"; then
		ok "one-line reason from die()"
	else
		bad "stderr is not one line starting with '$task: ' (lib/ not loaded?)"
	fi
done

CASE="worker-style: cwd = release, relative path through the symlink"
run_as "$REL" tasks/nginx_management/test_config.sh nginx_management/test_config.sh "id nginx" "$NOREL"
expect_rc 0
out_has "^nginx configuration OK on testhost$"
log_has "^nginx -t"

CASE="relative ./path from the module directory (entered through the symlink)"
run_as "$REL/tasks/apt_management" ./upgrade_packages.sh apt_management/upgrade_packages.sh "id apt-get" "$NOREL" FAKE_UID=1000
expect_rc 0
out_has "^dry run: 4 package\(s\) would be upgraded on testhost"

CASE="relative ../ path from a sibling module directory"
run_as "$HERE/nginx_management" ../mysql_management/status.sh mysql_management/status.sh "id mysqladmin" "$NOREL"
expect_rc 0
out_has "^server version: 10.11.6-MariaDB"

CASE="bash script, absolute path through the symlink, cwd /"
run_as / "$REL/tasks/backup_tasks/verify_latest.sh" backup_tasks/verify_latest.sh "id" "$NOREL" CL_PARAM_DESTINATION="$WORK/nope"
expect_rc 6
err_has "^backup_tasks.verify_latest: $WORK/nope does not exist"

CASE="without CL_TASK, die() names the script itself"
run_as "$WORK/elsewhere" "$REL/tasks/ssl_management/check_expiry.sh" ssl_management/check_expiry.sh "id openssl" "$NOREL" CL_TASK= CL_PARAM_DAYS=x
expect_rc 2
err_has "^check_expiry.sh: invalid value for days: 'x'"

CASE="a script without its lib/ fails loudly"
mkdir -p "$WORK/nolib/nginx_management"
cp "$HERE/nginx_management/test_config.sh" "$WORK/nolib/nginx_management/"
run_as "$WORK/elsewhere" "$WORK/nolib/nginx_management/test_config.sh" nginx_management/test_config.sh "id nginx"
[ "$RC" -ne 0 ] && ok "exit $RC" || bad "exit 0 without lib/common.sh"
err_has "lib/common.sh"
log_lacks "nginx"

# ---------------------------------------------------------------------------
say "== $PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" -eq 0 ]
