#!/bin/sh
# Installs (as root, with apt-get) or lists the Debian packages the test
# suite needs. Used by `make test` and `.ci/run`.
set -eu
# command -> Debian package
need="git:git sshd:openssh-server ssh:openssh-client ip:iproute2 redis-server:redis-server redis-sentinel:redis-sentinel redis-cli:redis-tools openssl:openssl gzip:gzip bash:bash flock:util-linux sudo:sudo systemctl:systemd shellcheck:shellcheck tmux:tmux chromium:chromium"
missing=""
for pair in $need; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
		case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
else
	echo "the tests need these Debian packages; install them with:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi
