package sshkeys

// The host side: POSIX sh run over SSH as the login user, editing that
// user's ~/.ssh/authorized_keys. Nothing is interpolated: the key line
// arrives on stdin, the key blob to remove as $1. Both write a temporary
// file beside authorized_keys and rename it over the original, so a cut
// connection leaves the old file or the new one, never half of one.

// addScript appends the line on stdin unless a line with the same key blob
// is there already.
const addScript = `set -eu
umask 077
IFS= read -r line || [ -n "$line" ]
d=$HOME/.ssh
f=$d/authorized_keys
[ -d "$d" ] || mkdir -p "$d"
[ -e "$f" ] || : >"$f"
if awk -v k="$1" '{ for (i = 1; i <= NF; i++) if ($i == k) found = 1 } END { exit !found }' "$f"; then
	echo present
	exit 0
fi
tmp=$f.cl-rotate.$$
trap 'rm -f "$tmp"' EXIT
awk 1 "$f" >"$tmp"
printf '%s\n' "$line" >>"$tmp"
chmod 600 "$tmp"
mv -f "$tmp" "$f"
trap - EXIT
echo added
`

// removeScript drops every line that carries the key blob $1.
const removeScript = `set -eu
umask 077
f=$HOME/.ssh/authorized_keys
[ -e "$f" ] || { echo absent; exit 0; }
tmp=$f.cl-rotate.$$
trap 'rm -f "$tmp"' EXIT
awk -v k="$1" '{ for (i = 1; i <= NF; i++) if ($i == k) next; print }' "$f" >"$tmp"
chmod 600 "$tmp"
mv -f "$tmp" "$f"
trap - EXIT
echo removed
`

// checkScript says whether authorized_keys can be rewritten (dry runs).
const checkScript = `d=$HOME/.ssh
f=$d/authorized_keys
if [ -e "$f" ] && [ ! -w "$f" ]; then echo "$f is not writable"; exit 1; fi
if [ -d "$d" ] && [ ! -w "$d" ]; then echo "$d is not writable"; exit 1; fi
echo ok
`
