#!/bin/sh
# ssl_management/check_expiry.sh - task ssl_management.check_expiry
#
# Checks X.509 certificates with "openssl x509 -enddate -noout -checkend" and
# prints one line per certificate:
#   OK|EXPIRING|EXPIRED|ERROR  <file>  expires <date> (<n> days)  <subject>
# path may be a certificate file or a directory. In a directory, every
# cert.pem below it is checked (Let's Encrypt live/<name>/cert.pem layout);
# if there is none, every *.pem and *.crt file holding a certificate is
# checked, skipping chain.pem, fullchain.pem and *key* files. Symlinks are
# followed. Changes nothing.
#
# Usage (normally started by the celeroot worker):
#   CL_PARAM_DAYS=21 CL_PARAM_PATH=/etc/letsencrypt/live ./check_expiry.sh
#
# Environment:
#   CL_PARAM_DAYS  integer 0-3650 (default 21): warning window in days
#   CL_PARAM_PATH  absolute path (default /etc/letsencrypt/live)
#   CL_HOST        host name used in messages (default: uname -n)
#   CL_TASK        task name, used as the prefix of error messages
# The JSON copy of the params on stdin is not read (stdin is replaced by /dev/null).
#
# Exit codes:
#   0  every certificate is valid for more than <days> days
#   1  at least one certificate expires within <days> days, is expired, or
#      could not be parsed
#   2  invalid parameter value
#   3  openssl is not installed
#   4  path is not readable (Let's Encrypt directories are root-only)
#   6  path does not exist or holds no certificate
set -eu
# shellcheck source=../lib/common.sh
. "$(dirname -- "$0")/../lib/common.sh"

DAYS=$(int days "${CL_PARAM_DAYS:-21}" 3650)
CERT_PATH=${CL_PARAM_PATH:-/etc/letsencrypt/live}
is_absolute "$CERT_PATH" || die 2 "path must be absolute: '$CERT_PATH'"

need_tool openssl
[ -e "$CERT_PATH" ] || die 6 "$CERT_PATH does not exist"
[ -r "$CERT_PATH" ] || die 4 "cannot read $CERT_PATH: run as root"

if [ -d "$CERT_PATH" ]; then
	[ -x "$CERT_PATH" ] || die 4 "cannot read $CERT_PATH: run as root"
	files=$(find -L "$CERT_PATH" -type f -name cert.pem 2>/dev/null | sort)
	if [ -z "$files" ]; then
		files=$(find -L "$CERT_PATH" -type f \( -name '*.pem' -o -name '*.crt' \) \
			! -name '*key*' ! -name chain.pem ! -name fullchain.pem 2>/dev/null | sort)
		# keep only files that contain a certificate
		files=$(printf '%s\n' "$files" | while IFS= read -r f; do
			if [ -n "$f" ] && grep -q -e '-----BEGIN CERTIFICATE-----' "$f" 2>/dev/null; then
				printf '%s\n' "$f"
			fi
		done)
	fi
else
	files=$CERT_PATH
fi
[ -n "$files" ] || die 6 "no certificate found under $CERT_PATH"

secs=$((DAYS * 86400))
now=$(date +%s)
total=0
bad=0
bad_names=""
while IFS= read -r f; do
	[ -n "$f" ] || continue
	total=$((total + 1))
	if ! end=$(openssl x509 -in "$f" -noout -enddate 2>/dev/null); then
		printf 'ERROR     %s  not a readable X.509 certificate\n' "$f"
		bad=$((bad + 1))
		if [ "$bad" -le 5 ]; then bad_names="$bad_names $f"; fi
		continue
	fi
	end=${end#notAfter=}
	subject=$(openssl x509 -in "$f" -noout -subject 2>/dev/null | sed 's/^subject= *//')
	left="?"
	if end_s=$(date -d "$end" +%s 2>/dev/null); then
		left=$(((end_s - now) / 86400))
	fi
	if ! openssl x509 -in "$f" -noout -checkend 0 >/dev/null 2>&1; then
		state=EXPIRED
	elif ! openssl x509 -in "$f" -noout -checkend "$secs" >/dev/null 2>&1; then
		state=EXPIRING
	else
		state=OK
	fi
	printf '%-9s %s  expires %s (%s days)  %s\n' "$state" "$f" "$end" "$left" "$subject"
	if [ "$state" != OK ]; then
		bad=$((bad + 1))
		if [ "$bad" -le 5 ]; then bad_names="$bad_names $f"; fi
	fi
done <<EOF_FILES
$files
EOF_FILES

echo "checked $total certificate(s) under $CERT_PATH on $HOST: $bad expiring within $DAYS days, expired or unreadable"
if [ "$bad" -gt 5 ]; then bad_names="$bad_names (+$((bad - 5)) more)"; fi
[ "$bad" -eq 0 ] || die 1 "$bad certificate(s) expire within $DAYS days, are expired or unreadable:$bad_names"
