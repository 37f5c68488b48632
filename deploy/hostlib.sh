# celeroot host library: the host side of `cl host deploy`, plain POSIX sh
# (dash, bash, busybox ash) with tar, awk, sort, ln, mv -T and, when
# present, gzip and sha256sum. cl installs it as
# <target>/.celeroot/lib-<hash>.sh and sources it from `sh -c WRAPPER LIB COMMAND
# ARGS...` ($0 is LIB, $1 the command), as if run as `sh LIB COMMAND ARGS...`.
# Nothing here is interpolated by cl: arguments arrive as argv.
set -eu
# Releases hold the worker's credentials: everything cl creates on the
# host is its owner's only (docs/deploy.md lists the modes).
umask 077
LC_ALL=C
export LC_ALL

# finish is the one EXIT trap, so that no trap set later drops another's
# work: it removes stage's unfinished directory (STAGING) and then, in a
# probestage session, prints the end marker (END is its token) last.
# STATTMP is statcache's temporary file (and STATTMP.skip, when stage
# writes it, its input).
STAGING=
END=
STATTMP=
FRESH=
finish() {
	st=$?
	if [ -n "$STAGING" ]; then rm -rf "$STAGING"; fi
	if [ -n "$STATTMP" ] && { [ -e "$STATTMP" ] || [ -e "$STATTMP.skip" ]; }; then rm -f "$STATTMP" "$STATTMP.skip"; fi
	if [ -n "$END" ]; then printf '\n@@end-%s\n' "$END"; fi
	exit "$st"
}

die() {
	printf 'cl-host: %s\n' "$*" >&2
	exit 1
}

sum256() {
	if command -v sha256sum >/dev/null 2>&1; then
		set -- $(sha256sum <"$1")
		printf '%s' "$1"
	fi
}

# A file's identity as GNU stat prints it: inode, size, mtime and ctime
# in nanoseconds, path. No user can set a ctime (only the kernel does, to
# now, on every write, chmod, link or rename), so a file whose identity is
# the one recorded in .celeroot/stat when its release was staged has not
# changed since; the drift check hashes the others only.
STAT_FMT='%i %s %.9Y %.9Z %n'

# statnow: the identity of each file named on stdin (one a line, relative
# to the current directory); nothing for a file that is gone, and nothing
# at all without GNU xargs and stat (the drift check then hashes every file).
statnow() {
	xargs -d '\n' -r stat -c "$STAT_FMT" -- 2>/dev/null || :
}

# SAME_AWK reads a release's stat record (ARGV[1], V its release), the
# files' identities now (ARGV[2]) and a list of paths (ARGV[3]), and prints
# the paths whose identity is not the recorded one: all of them when the
# record is not release V's or has a malformed line.
SAME_AWK='
function id(s) { if (!match(s, /^[0-9]+ [0-9]+ [0-9]+\.[0-9]+ [0-9]+\.[0-9]+ /)) return 0; k = substr(s, 1, RLENGTH); p = substr(s, RLENGTH + 1); return p != "" }
FILENAME == ARGV[1] { if (FNR == 1) ok = ($0 == "celeroot-stat v1 " V); else if (ok && id($0)) rec[p] = k; else ok = 0; next }
FILENAME == ARGV[2] { if (id($0) && (p in rec) && rec[p] == k) same[p] = 1; next }
!(ok && ($0 in same))'

# STATREC_AWK reads the paths not to record (ARGV[1]) and identities
# (ARGV[2]) and prints release V's stat record: a header, then the
# identities of the files last changed before M, when the recording began
# (a file changed later, even within the clock's granularity, then gets
# another ctime than the recorded one). M is the ctime of the first
# identity, which must be the file MP's (statcache's temporary file, just
# written, stat'ed before the others by the same stat). Exit 3: some file
# changed at or after M (unless LAST, which leaves it out); 4: stat lacks
# the format, or MP's identity is not first.
STATREC_AWK='
function before(c,   a, b) { split(c, a, "."); split(M, b, "."); return a[1] + 0 < b[1] + 0 || (a[1] + 0 == b[1] + 0 && a[2] + 0 < b[2] + 0) }
FILENAME == ARGV[1] { skip[$0] = 1; next }
!match($0, /^[0-9]+ [0-9]+ [0-9]+\.[0-9]+ [0-9]+\.[0-9]+ /) { bad = 1; exit }
!gotM {
	gotM = 1
	split($0, f, " ")
	M = f[4]
	if (substr($0, RLENGTH + 1) != MP) { bad = 1; exit }
	next
}
{
	p = substr($0, RLENGTH + 1)
	split($0, f, " ")
	if (p in skip) next
	if (!before(f[4])) { racy = 1; next }
	out[++n] = $0
}
END {
	if (bad || !gotM) exit 4
	if (racy && !LAST) exit 3
	print "celeroot-stat v1 " V
	for (i = 1; i <= n; i++) print out[i]
}'

# statcache T V: write releases/V/.celeroot/stat (temporary file, then
# mv), the identity of every regular file of its manifest but those listed
# in $STATTMP.skip (when stage wrote one). Without GNU stat, or on any
# failure, it writes none: the drift check then hashes every file.
statcache() {
	D=$1/releases/$2
	case $STATTMP in /*) MP=$STATTMP ;; *) MP=$PWD/$STATTMP ;; esac
	sk=/dev/null
	if [ -f "$STATTMP.skip" ]; then sk=$STATTMP.skip; fi
	for last in 0 1; do
		: >"$STATTMP"
		st=0
		(cd "$D" && { printf '%s\n' "$MP"; awk -F '\t' 'NR > 1 && NF >= 4 && $2 != "120000" { print $1 }' .celeroot/manifest; } | statnow) |
			awk -v MP="$MP" -v V="$2" -v LAST="$last" "$STATREC_AWK" "$sk" /dev/stdin >"$STATTMP" || st=$?
		if [ "$st" = 0 ]; then
			mv "$STATTMP" "$D/.celeroot/stat"
			break
		fi
		[ "$st" = 3 ] || break
		sleep 0.02 2>/dev/null || sleep 1
	done
	if [ -e "$STATTMP" ] || [ -e "$STATTMP.skip" ]; then rm -f "$STATTMP" "$STATTMP.skip"; fi
	STATTMP=
}

# repair T: a replaced release is moved aside (.old-NAME-PID) and the new
# one renamed in; if that was cut short, current dangles: move it back.
repair() {
	R=$1/releases
	if [ ! -L "$1/current" ] || [ -e "$1/current" ]; then
		return 0
	fi
	name=$(readlink "$1/current")
	name=${name#releases/}
	for old in "$R/.old-$name-"*; do
		if [ -d "$old" ]; then
			mv "$old" "$R/$name"
			return 0
		fi
	done
}

# clean R: remove what interrupted deploys left (staging directories,
# statcache's temporary files but this run's, and moved-aside releases
# whose replacement is in place). Deploys hold a lock, so no other deploy
# is using them.
clean() {
	for d in "$1"/.stage-* "$1"/.old-* "$1"/.stat-*; do
		if [ ! -e "$d" ] || [ "$d" = "$STATTMP" ] || [ "$d" = "$STATTMP.skip" ]; then
			continue
		fi
		case $d in
		"$1"/.old-*)
			n=${d#"$1"/.old-}
			n=${n%-*}
			if [ ! -e "$1/$n" ]; then
				mv "$d" "$1/$n"
				continue
			fi
			;;
		esac
		rm -rf "$d"
	done
}

# current T: set cur to the release current points to ("" none). The
# shell's own cd -P resolves the link, so no program runs (20 hosts stage
# at once); readlink reads a link that does not resolve into releases/.
# T is absolute (cl.yaml's check), so where the shell stands afterwards
# does not matter: back where it was, or / when that cannot be entered.
current() {
	cur=
	[ -L "$1/current" ] || return 0
	h=$PWD
	if cd -P "$1/releases" 2>/dev/null; then
		rp=$PWD
		if cd -P "$1/current" 2>/dev/null; then
			cpath=$PWD
			if [ "${cpath%/*}" = "$rp" ]; then
				cur=${cpath##*/}
				cd "$h" 2>/dev/null || cd /
				return 0
			fi
		fi
	fi
	cd "$h" 2>/dev/null || cd /
	cur=$(readlink "$1/current")
	cur=${cur#releases/}
}

# probe T V UNIT SERVICE STATE: facts and deploy state as key=value lines,
# then the current release's manifest after a @@manifest line.
probe() {
	T=$1 V=$2 UNIT=$3 SERVICE=$4 STATE=$5
	# The kernel's own names, as uname -sm prints them (uname runs only
	# on kernels before 6.1, which lack /proc/sys/kernel/arch).
	if read -r os </proc/sys/kernel/ostype 2>/dev/null && read -r m </proc/sys/kernel/arch 2>/dev/null && [ -n "$os" ] && [ -n "$m" ]; then
		set -- "$os" "$m"
	else
		set -- $(uname -sm)
	fi
	echo "os=$1"
	echo "machine=$2"
	if [ -d /run/systemd/system ]; then echo systemd=1; else echo systemd=0; fi
	for t in gzip sha256sum; do
		if command -v "$t" >/dev/null 2>&1; then echo "have_$t=1"; fi
	done
	if [ -d "$T/releases" ]; then repair "$T"; fi
	current "$T"
	echo "current=$cur"
	if [ -n "$V" ] && [ -f "$T/releases/$V/.celeroot/manifest" ]; then
		echo "present=$(sum256 "$T/releases/$V/.celeroot/manifest")"
	fi
	if [ -d /run/systemd/system ]; then
		if [ -f "$UNIT" ]; then echo "unit=$(sum256 "$UNIT")"; fi
		if systemctl is-enabled --quiet "$SERVICE" 2>/dev/null; then echo enabled=1; fi
	elif [ -d "$STATE" ] && [ -w "$STATE" ]; then
		echo state_ok=1
	fi
	echo @@manifest
	if [ -n "$cur" ] && [ -f "$T/releases/$cur/.celeroot/manifest" ]; then
		cat "$T/releases/$cur/.celeroot/manifest"
	fi
}

# The awk program that reads the drop list and the base manifest, writes
# the kept manifest lines to the file KEEP and prints a script that
# hard-links them from B into S (stage evals it in a subshell: no sh to
# start): GNU cp links all of them in one process
# (cp -l --parents, 500 files per call); where that fails (busybox), one
# ln per directory (and per 100 files) does it — never one process per
# file.
LINK_AWK='
function q(s) { gsub(/\047/, "\047\\\\\047\047", s); return "\047" s "\047" }
FILENAME == ARGV[1] { drop[$0] = 1; next }
NF < 4 || ($1 in drop) || $2 == "120000" { next }
{
	print > KEEP
	if (++ncp == 1) cps[++ncps] = "cp -l --parents -t " q(S) " --"
	cps[ncps] = cps[ncps] " " q($1)
	if (ncp == 500) ncp = 0
	d = $1
	if (sub(/\/[^\/]*$/, "", d) == 0) d = "."
	if (!(d in seen)) { seen[d] = 1; dirs = dirs " " q(S "/" d); if (++nd == 100) { mk[++nmk] = "mkdir -p --" dirs; dirs = ""; nd = 0 } }
	files[d] = files[d] " " q(B "/" $1)
	if (++count[d] == 100) { lns[++nl] = "ln -f --" files[d] " " q(S "/" d "/"); files[d] = ""; count[d] = 0 }
}
END {
	printf "" > KEEP
	if (ncps == 0) exit
	print "cd " q(B)
	printf "if "
	for (i = 1; i <= ncps; i++) printf "%s 2>/dev/null && ", cps[i]
	print ":; then :; else"
	if (dirs != "") mk[++nmk] = "mkdir -p --" dirs
	for (i = 1; i <= nmk; i++) print mk[i]
	for (i = 1; i <= nl; i++) print lns[i]
	for (d in files) if (files[d] != "") print "ln -f --" files[d] " " q(S "/" d "/")
	print "fi"
}'

# stage T V BASE WANT GZ KEEP [CMD...]: make releases/V from a tar on stdin
# (gzip'd when GZ=1) holding the new and changed files plus
# .celeroot/stage/{drop,manifest-part,end}, hard-linking the other files
# from releases/BASE, rename it into place, prune to KEEP releases (V and
# current kept), and with CMD activate V at once (saves a round trip when
# nothing has to run between staging and switching).
# Exit 98: the merged manifest's sha256 is not WANT (send the whole
# manifest instead). Every process counts: 20 hosts stage at once.
stage() {
	T=$1 V=$2 B=$3 WANT=$4 GZ=$5 KEEP=$6
	R=$T/releases
	S=$R/.stage-$V-$$
	clean "$R"
	mkdir -p "$S"
	STAGING=$S
	STATTMP=$R/.stat-$V-$$
	trap finish EXIT
	untar "$S" "$GZ" "$V"
	C=$S/.celeroot/stage
	[ -f "$C/end" ] || die "the upload of release $V is incomplete"
	if [ -n "$B" ]; then
		BM=$R/$B/.celeroot/manifest
		[ -f "$BM" ] || die "base release $B has no manifest"
		: >>"$C/drop"
		# The files kept from B whose identity is not the one recorded
		# when B was staged (B has none, or a release staged since linked
		# them) may have changed since: those whose hash is not B's
		# manifest's are not recorded for V (the drift check hashes them).
		awk -F '\t' 'FILENAME == ARGV[1] { drop[$0] = 1; next } FNR > 1 && NF >= 4 && $2 != "120000" && !($1 in drop) { print $1 }' "$C/drop" "$BM" >"$C/kept"
		rec=$R/$B/.celeroot/stat
		[ -f "$rec" ] || rec=/dev/null
		(cd "$R/$B" && statnow <"$C/kept") | awk -v V="$B" "$SAME_AWK" "$rec" /dev/stdin "$C/kept" >"$C/doubt"
		if [ -s "$C/doubt" ]; then
			: >"$C/ok"
			if command -v sha256sum >/dev/null 2>&1; then
				(cd "$R/$B" && awk -F '\t' 'FILENAME == ARGV[1] { d[$0] = 1; next } FNR > 1 && ($1 in d) { print $4 "  " $1 }' "$C/doubt" .celeroot/manifest |
					sha256sum -c 2>/dev/null) | sed -n 's/: OK$//p' >"$C/ok" || :
			fi
			awk 'FILENAME == ARGV[1] { ok[$0] = 1; next } !($0 in ok)' "$C/ok" "$C/doubt" >"$STATTMP.skip"
		fi
		(eval "$(awk -F '\t' -v B="$R/$B" -v S="$S" -v KEEP="$C/keep" "$LINK_AWK" "$C/drop" "$BM")")
		if [ -f "$C/manifest-part" ]; then
			{
				printf 'celeroot-manifest v1 %s\n' "$V"
				sort "$C/keep" "$C/manifest-part"
			} >"$S/.celeroot/manifest"
			if [ "$(sum256 "$S/.celeroot/manifest")" != "$WANT" ]; then
				echo "cl-host: merged manifest of $V does not match" >&2
				exit 98
			fi
		else
			count "$S" "$V"
		fi
	fi
	[ -f "$S/.celeroot/manifest" ] || die "the upload of release $V has no manifest"
	rm -rf "$C"
	# Owner only, whatever tar or an older cl left: the files linked from
	# the base share its inodes, so this tightens the older releases too.
	chmod -R go-rwx "$S"
	chmod go-rwx "$R"
	if [ -e "$R/$V" ]; then
		mv "$R/$V" "$R/.old-$V-$$"
		mv "$S" "$R/$V"
		rm -rf "$R/.old-$V-$$"
	else
		mv "$S" "$R/$V"
	fi
	STAGING=
	echo staged
	prune "$T" "$KEEP" "$V"
	# Last, once pruning (which unlinks files V shares) has changed ctimes.
	statcache "$T" "$V" || :
	shift 6
	# Just staged, V's directory is the newest: no touch needed.
	if [ $# -gt 0 ]; then
		FRESH=1
		activate "$T" "$V" "$@"
	fi
}

# probestage TOKEN T V UNIT SERVICE STATE: probe (its arguments), then
# "@@ready-TOKEN" on a line of its own; then, from stdin, a line with a
# count N and N lines, stage's arguments, and stage with the rest of stdin
# (N = 0: nothing to stage, exit 0). One session does both: cl decides
# what to send from the probe's output. At exit, whatever the status,
# "@@end-TOKEN" on a line of its own (unless a restart was exec'd: the
# output then ends with the command).
probestage() {
	END=$1
	shift
	trap finish EXIT
	probe "$@"
	printf '\n@@ready-%s\n' "$END"
	IFS= read -r n || die "no staging input after the probe (cl stopped?)"
	case $n in '' | *[!0-9]*) die "bad staging input: $n" ;; esac
	set --
	while [ "$n" -gt 0 ]; do
		IFS= read -r a || die "the staging input was cut short"
		set -- "$@" "$a"
		n=$((n - 1))
	done
	if [ $# -gt 0 ]; then stage "$@"; fi
}

# untar S GZ V: unpack the tar on stdin (gzip'd when GZ=1) into S. On
# failure, dies with one line: for a full disk the directory and its free
# space (S removed first, so the figure is what a retry has), else tar's
# last line.
untar() {
	if [ "$2" = 1 ]; then ux=-xzf; else ux=-xf; fi
	if uerr=$(tar -C "$1" "$ux" - 2>&1 >/dev/null); then
		return 0
	fi
	cat >/dev/null 2>&1 || true
	rm -rf "$1"
	ud=$(dirname "$1")
	case $uerr in
	*"No space left"* | *"Disk quota exceeded"*)
		ufree=$(df -Pk "$ud" 2>/dev/null | awk 'NR == 2 { printf "%.1f MiB", $4 / 1024 }') || true
		die "no space left in $ud to unpack release $3 (${ufree:-unknown} free now): free space there or lower deployment.keep_releases, then deploy again"
		;;
	esac
	die "unpack release $3 into $ud: $(printf '%s\n' "$uerr" | awk 'NF { l = $0 } END { print l }')"
}

# count S V: a release assembled from links and a whole manifest (not
# checked by the merge) must hold exactly the files its manifest lists.
count() {
	want=$(awk -F '\t' 'NF >= 4 { n++ } END { print n + 0 }' "$1/.celeroot/manifest")
	have=$(find "$1" \( -type f -o -type l \) ! -path "$1/.celeroot/manifest" ! -path "$1/.celeroot/cl-sha256" ! -path "$1/.celeroot/stage/*" | wc -l)
	if [ "$want" -ne "$have" ]; then
		die "release $2 has $have files, its manifest lists $want"
	fi
}

# activate T V [CMD...]: point current at releases/V (a temporary link
# renamed over it: atomic), say "switched", then exec CMD (the restart), if
# any. CMD "reload PID -- RESTART..." asks the worker PID (when it runs the
# file current/bin/cl is) to reload with SIGUSR1 and says "reloaded";
# otherwise, or when the signal cannot be sent, it runs RESTART.
activate() {
	T=$1 V=$2
	shift 2
	[ -f "$T/releases/$V/.celeroot/manifest" ] || die "release $V is not complete"
	tmp=$T/.current.tmp.$$
	if [ -e "$tmp" ] || [ -L "$tmp" ]; then rm -f "$tmp"; fi
	ln -s "releases/$V" "$tmp"
	if ! mv -T "$tmp" "$T/current"; then
		rm -f "$tmp"
		die "cannot switch $T/current (mv -T failed)"
	fi
	echo switched
	# prune keeps the most recently activated releases (ls -t).
	if [ -z "$FRESH" ]; then touch "$T/releases/$V"; fi
	if [ "${1-}" = reload ]; then
		pid=$2
		shift 3
		# The worker runs the very file current's bin/cl is (a task-file
		# change links it from the base): test's -ef, no program to run.
		if [ "/proc/$pid/exe" -ef "$T/current/bin/cl" ] && kill -USR1 "$pid" 2>/dev/null; then
			echo reloaded
			return 0
		fi
	fi
	case ${1-} in
	sv-restart) shift; svrestart "$@" ;;
	?*) exec "$@" ;;
	esac
}

# svrestart NAME STATE CL ARGV...: make `cl supervise` NAME restart its
# command now. When it runs ARGV already (its .argv file) and is alive (its
# pid's /proc cmdline is a cl supervise of NAME), a SIGHUP does it without
# starting a Go process; otherwise CL supervise restart (which also starts
# a supervisor that does not run).
svrestart() {
	N=$1 ST=$2 CL=$3
	shift 3
	# Older cl made the state directory and the log world-readable:
	# tighten them (what another user owns is left as it is).
	chmod go-rwx "$ST" 2>/dev/null || :
	chmod go-rwx "$ST/$N.log" 2>/dev/null || :
	if read -r pid 2>/dev/null <"$ST/$N.pid" && [ -r "/proc/$pid/cmdline" ] &&
		printf '%s\n' "$@" | cmp -s - "$ST/$N.argv" &&
		grep -qaF -e supervise "/proc/$pid/cmdline" && grep -qaF -e "$N" "/proc/$pid/cmdline" &&
		kill -HUP "$pid" 2>/dev/null; then
		return 0
	fi
	exec "$CL" supervise restart "$N" --state-dir "$ST" -- "$@"
}

# deactivate T: remove current (a failed first deploy has nothing to go
# back to).
deactivate() {
	rm -f "$1/current"
}

# prune T KEEP PROTECT...: keep the KEEP most recently activated releases,
# current and every PROTECT one; delete the others.
prune() {
	T=$1 KEEP=$2
	shift 2
	R=$T/releases
	[ -d "$R" ] || return 0
	clean "$R"
	current "$T"
	n=0
	for d in $(ls -1t "$R"); do
		n=$((n + 1))
		keep=0
		if [ "$n" -le "$KEEP" ] || [ "$d" = "$cur" ]; then keep=1; fi
		for p in "$@"; do
			if [ "$d" = "$p" ]; then keep=1; fi
		done
		if [ "$keep" = 0 ]; then
			rm -rf "${R:?}/$d"
			echo "pruned=$d"
		fi
	done
}

cmd=$1
shift
case $cmd in
probe | probestage | stage | activate | deactivate | prune) "$cmd" "$@" ;;
*) die "unknown command $cmd" ;;
esac
