//go:build linux

package deploy

// The Go twin of hostlib.sh's probestage command.
//
// A deploy runs the host library's probestage on every host (see
// probestage.go): probe, read the staging decision, unpack the release,
// link the kept files, prune, record the files' identities and maybe switch
// and restart. In the shell that is ~30 short processes (awk, stat, xargs,
// tar, cp, sort, sha256sum, mv, chmod, ls, rm, ln, mkdir...), each costly
// on some hosts. HostLib does the same in one process: the host's own cl
// (the same build as the deploying cl) runs it instead of the shell.
//
// The two must stay in step, byte for byte on stdout and on disk: every
// function here mirrors the shell function named in its comment, and the
// tests (hoststage_test.go) run both on the same inputs and compare their
// output and the trees they leave. Change one, change the other.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// HostLib runs the host library command args[0] with args[1:] as
// hostlib.sh would ("probestage" only; anything else: "cl-host: unknown
// command X" on stderr, exit 1) and returns its exit status. Where the
// shell execs a command (the restart), HostLib replaces the process
// (syscall.Exec) after flushing stdout: in production stdin, stdout and
// stderr are os.Stdin, os.Stdout and os.Stderr, which the command inherits.
// It sets the process's umask to 077, as the library does.
func HostLib(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	syscall.Umask(0o077)
	if len(args) == 0 {
		fmt.Fprintln(stderr, "cl-host: no command")
		return 2
	}
	if args[0] != "probestage" {
		fmt.Fprintf(stderr, "cl-host: unknown command %s\n", args[0])
		return 1
	}
	h := &hostSession{
		in:     bufio.NewReaderSize(stdin, 64<<10),
		out:    bufio.NewWriterSize(stdout, 32<<10),
		rawOut: stdout,
		errw:   stderr,
		pid:    os.Getpid(),
	}
	return h.run(func() { h.probestage(args[1:]) })
}

// hostExit is the panic value that ends a session with that exit status
// (the shell's exit); run recovers it and runs finish.
type hostExit int

// hostSession is one run of the library: the shell's globals.
type hostSession struct {
	in     *bufio.Reader // stdin: the decision, then the tar (read byte-exactly)
	out    *bufio.Writer // stdout, flushed before reading stdin, running or exec'ing a program, and at exit
	rawOut io.Writer
	errw   io.Writer
	pid    int // $$

	end     string          // END: the session's token ("" none: no end marker)
	staging string          // STAGING: stage's unfinished directory
	statTmp string          // STATTMP: statcache's temporary file
	skip    map[string]bool // $STATTMP.skip: paths statcache does not record
	fresh   bool            // FRESH: activate does not touch the release
}

// run runs body as the shell runs a command with its EXIT trap: whatever
// the way body ends (return, die, exit), finish runs and the status is
// returned.
func (h *hostSession) run(body func()) (status int) {
	defer func() {
		if r := recover(); r != nil {
			x, ok := r.(hostExit)
			if !ok {
				fmt.Fprintf(h.errw, "cl-host: internal error: %v\n", r)
				x = 1
			}
			status = int(x)
		}
		h.finish()
	}()
	body()
	return 0
}

// finish mirrors finish (the EXIT trap): remove the staging directory and
// statcache's temporary file, then print the end marker last.
func (h *hostSession) finish() {
	if h.staging != "" {
		_ = os.RemoveAll(h.staging)
	}
	if h.statTmp != "" {
		_ = syscall.Unlink(h.statTmp)
		_ = syscall.Unlink(h.statTmp + ".skip")
	}
	if h.end != "" {
		fmt.Fprintf(h.out, "\n@@end-%s\n", h.end)
	}
	h.flush()
}

func (h *hostSession) flush() { _ = h.out.Flush() }

func (h *hostSession) printf(format string, args ...any) { fmt.Fprintf(h.out, format, args...) }

// die mirrors die: "cl-host: MSG" on stderr, exit 1.
func (h *hostSession) die(format string, args ...any) {
	h.fail(1, "cl-host: "+format, args...)
}

// fail prints one line on stderr and exits with status: a program the
// shell runs failing under set -e (its own message, its status).
func (h *hostSession) fail(status int, format string, args ...any) {
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
	fmt.Fprintln(h.errw, msg)
	panic(hostExit(status))
}

// probestage mirrors probestage TOKEN T V UNIT SERVICE STATE: probe, the
// ready marker, then stage's arguments from stdin (a count line, then one
// line each) and stage with the rest of stdin as the tar.
func (h *hostSession) probestage(args []string) {
	if len(args) == 0 {
		h.fail(2, "cl-host: probestage: no token")
	}
	h.end, args = args[0], args[1:]
	if len(args) < 5 {
		h.fail(2, "cl-host: probestage wants TOKEN T V UNIT SERVICE STATE")
	}
	h.probe(args[0], args[1], args[2], args[3], args[4])
	h.printf("\n@@ready-%s\n", h.end)
	h.flush()
	n, ok := h.readLine()
	if !ok {
		h.die("no staging input after the probe (cl stopped?)")
	}
	count, err := strconv.Atoi(n)
	if n == "" || strings.Trim(n, "0123456789") != "" || err != nil {
		h.die("bad staging input: %s", n)
	}
	var stageArgs []string
	for ; count > 0; count-- {
		a, ok := h.readLine()
		if !ok {
			h.die("the staging input was cut short")
		}
		stageArgs = append(stageArgs, a)
	}
	if len(stageArgs) > 0 {
		h.stage(stageArgs)
	}
}

// readLine is `IFS= read -r LINE`: a whole line, without its newline; a
// last line without one is not read.
func (h *hostSession) readLine() (string, bool) {
	s, err := h.in.ReadString('\n')
	if err != nil {
		return "", false
	}
	return s[:len(s)-1], true
}

// probe mirrors probe T V UNIT SERVICE STATE. It always says have_gzip
// and have_sha256sum: this process unpacks and hashes by itself.
func (h *hostSession) probe(t, v, unit, service, state string) {
	osName, machine := kernelNames()
	h.printf("os=%s\nmachine=%s\n", osName, machine)
	systemd := hsIsDir("/run/systemd/system")
	if systemd {
		h.printf("systemd=1\n")
	} else {
		h.printf("systemd=0\n")
	}
	// helper=cl tells the deploying cl who answered (HostReport.Helper).
	h.printf("have_gzip=1\nhave_sha256sum=1\nhelper=cl\n")
	if hsIsDir(t + "/releases") {
		h.repair(t)
	}
	cur := h.current(t)
	h.printf("current=%s\n", cur)
	if m := t + "/releases/" + v + "/.celeroot/manifest"; v != "" && hsIsRegular(m) {
		h.printf("present=%s\n", sum256(m))
	}
	if systemd {
		if hsIsRegular(unit) {
			h.printf("unit=%s\n", sum256(unit))
		}
		h.flush()
		cmd := exec.Command("systemctl", "is-enabled", "--quiet", service)
		cmd.Stdout, cmd.Env = h.rawOut, hostEnv()
		if cmd.Run() == nil {
			h.printf("enabled=1\n")
		}
	} else if hsIsDir(state) && syscall.Access(state, unix.W_OK) == nil {
		h.printf("state_ok=1\n")
	}
	h.printf("@@manifest\n")
	if m := t + "/releases/" + cur + "/.celeroot/manifest"; cur != "" && hsIsRegular(m) {
		f, err := os.Open(m)
		if err == nil {
			_, err = io.Copy(h.out, f)
			f.Close()
		}
		if err != nil {
			h.fail(1, "cat: %s: %s", m, hsErrText(err))
		}
	}
}

// kernelNames are the kernel's name and machine as probe reads them:
// /proc/sys/kernel/{ostype,arch}, else uname(2) (kernels before 6.1).
func kernelNames() (string, string) {
	o, ok1 := hsReadFirstLine("/proc/sys/kernel/ostype")
	m, ok2 := hsReadFirstLine("/proc/sys/kernel/arch")
	if ok1 && ok2 && o != "" && m != "" {
		return o, m
	}
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "", ""
	}
	return unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Machine[:])
}

// repair mirrors repair T: when current dangles, move the release aside
// (.old-NAME-PID) back.
func (h *hostSession) repair(t string) {
	link := t + "/current"
	if !hsIsSymlink(link) || hsExists(link) {
		return
	}
	name, _ := os.Readlink(link)
	name = strings.TrimPrefix(strings.TrimRight(name, "\n"), "releases/")
	r := t + "/releases"
	olds, _ := filepath.Glob(globQuote(r+"/.old-"+name+"-") + "*")
	for _, old := range olds {
		if hsIsDir(old) {
			h.mv(old, r+"/"+name)
			return
		}
	}
}

// clean mirrors clean R: remove leftover staging directories, statcache's
// temporary files (but this run's) and moved-aside releases, moving back
// those whose replacement is missing.
func (h *hostSession) clean(r string) {
	ents, _ := os.ReadDir(r)
	var groups [3][]string // the shell's three globs, each sorted
	for _, e := range ents {
		for i, prefix := range []string{".stage-", ".old-", ".stat-"} {
			if strings.HasPrefix(e.Name(), prefix) {
				groups[i] = append(groups[i], e.Name())
			}
		}
	}
	for _, g := range groups {
		for _, name := range g {
			d := r + "/" + name
			if !hsExists(d) || (h.statTmp != "" && (d == h.statTmp || d == h.statTmp+".skip")) {
				continue
			}
			if n, ok := strings.CutPrefix(name, ".old-"); ok {
				if i := strings.LastIndex(n, "-"); i >= 0 {
					n = n[:i]
				}
				if !hsExists(r + "/" + n) {
					h.mv(d, r+"/"+n)
					continue
				}
			}
			h.rmrf(d)
		}
	}
}

// current mirrors current T: the release current points to ("" none):
// the name of the directory it resolves to when that is in releases/,
// else its text without a leading "releases/".
func (h *hostSession) current(t string) string {
	link := t + "/current"
	if !hsIsSymlink(link) {
		return ""
	}
	if rp, ok := physicalDir(t + "/releases"); ok {
		if cpath, ok := physicalDir(link); ok {
			i := strings.LastIndex(cpath, "/")
			if i >= 0 && cpath[:i] == rp {
				return cpath[i+1:]
			}
		}
	}
	cur, _ := os.Readlink(link)
	return strings.TrimPrefix(strings.TrimRight(cur, "\n"), "releases/")
}

// physicalDir is where `cd -P dir` leads ($PWD after it): the directory's
// path with every symbolic link resolved.
func physicalDir(dir string) (string, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	p, err := filepath.EvalSymlinks(abs)
	if err != nil || !hsIsDir(p) || syscall.Access(p, unix.X_OK) != nil {
		return "", false
	}
	return p, true
}

// stage mirrors stage T V BASE WANT GZ KEEP [CMD...]: make releases/V from
// the tar on stdin plus hard links to the kept files of releases/BASE,
// check its manifest, rename it into place, prune, record the files'
// identities, and with CMD activate V.
func (h *hostSession) stage(args []string) {
	if len(args) < 6 {
		h.fail(2, "cl-host: stage wants T V BASE WANT GZ KEEP [CMD...]")
	}
	t, v, b, want, gz, keep := args[0], args[1], args[2], args[3], args[4], args[5]
	r := t + "/releases"
	s := fmt.Sprintf("%s/.stage-%s-%d", r, v, h.pid)
	h.clean(r)
	if err := os.MkdirAll(s, 0o777); err != nil {
		h.fail(1, "mkdir: cannot create directory '%s': %s", s, hsErrText(err))
	}
	h.staging = s
	h.statTmp = fmt.Sprintf("%s/.stat-%s-%d", r, v, h.pid)
	dirs := map[string]bool{} // S's directories made or checked (no symbolic links)
	h.untar(s, gz, v, dirs)
	c := s + "/.celeroot/stage"
	if !hsIsRegular(c + "/end") {
		h.die("the upload of release %s is incomplete", v)
	}
	if b != "" {
		bdir := r + "/" + b
		bm := bdir + "/.celeroot/manifest"
		if !hsIsRegular(bm) {
			h.die("base release %s has no manifest", b)
		}
		drop := map[string]bool{}
		if data, err := os.ReadFile(c + "/drop"); err == nil {
			for _, l := range awkRecords(data) {
				drop[l] = true
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			h.fail(1, "cannot open %s/drop: %s", c, hsErrText(err))
		}
		data, err := os.ReadFile(bm)
		if err != nil {
			h.fail(2, "awk: cannot open %s: %s", bm, hsErrText(err))
		}
		bmLines := awkRecords(data)
		// kept: the paths whose identity is checked (from line 2);
		// keepLines: the lines LINK_AWK links (from line 1).
		var kept, keepLines []string
		for i, l := range bmLines {
			f := strings.Split(l, "\t")
			if len(f) < 4 || drop[f[0]] || f[1] == "120000" {
				continue
			}
			if !safeRelPath(f[0]) {
				h.die("base release %s lists an unsafe path %q", b, f[0])
			}
			keepLines = append(keepLines, l)
			if i > 0 {
				kept = append(kept, f[0])
			}
		}
		h.skip = doubt(bdir, b, kept, bmLines)
		h.link(bdir, s, keepLines, dirs)
		if hsIsRegular(c + "/manifest-part") {
			h.merge(s, v, want, keepLines, c+"/manifest-part")
		} else {
			h.count(s, v)
		}
	}
	if !hsIsRegular(s + "/.celeroot/manifest") {
		h.die("the upload of release %s has no manifest", v)
	}
	h.rmrf(c)
	h.chmodR(s)
	if err := chmodGoRWX(r); err != nil {
		h.fail(1, "chmod: changing permissions of '%s': %s", r, hsErrText(err))
	}
	if hsExists(r + "/" + v) {
		old := fmt.Sprintf("%s/.old-%s-%d", r, v, h.pid)
		h.mv(r+"/"+v, old)
		h.mv(s, r+"/"+v)
		h.rmrf(old)
	} else {
		h.mv(s, r+"/"+v)
	}
	h.staging = ""
	h.printf("staged\n")
	h.prune(t, keep, v)
	h.statcache(t, v)
	if len(args) > 6 {
		h.fresh = true
		h.activate(t, v, args[6:])
	}
}

// untar mirrors untar S GZ V: unpack the tar on stdin (gzip'd when GZ is
// 1) into S; on failure drain stdin, remove S and die with one line (for a
// full disk, the directory and its free space).
func (h *hostSession) untar(s, gz, v string, dirs map[string]bool) {
	err := untarTo(s, h.in, gz == "1", dirs)
	if err == nil {
		return
	}
	_, _ = io.Copy(io.Discard, h.in)
	_ = os.RemoveAll(s)
	ud := shDirname(s)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		h.die("no space left in %s to unpack release %s (%s free now): free space there or lower deployment.keep_releases, then deploy again", ud, v, freeSpace(ud))
	}
	h.die("unpack release %s into %s: %s", v, ud, err)
}

// freeSpace is the space available in dir as untar prints it (df -Pk's
// Available, in MiB with one decimal), "unknown" when statfs fails.
func freeSpace(dir string) string {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return "unknown"
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	kib := (uint64(st.Bavail)*bs + 1023) / 1024
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

// untarTo unpacks the tar stream r (gzip'd when gz: one or more members)
// into dir as GNU tar does (regular files with their header's mode and
// mtime, directories, symbolic links and hard links), strictly: a member
// with an absolute name, a ".." component or a path through a symbolic
// link, another type of member, or one replacing a directory is an error.
// Like GNU tar, it takes a stream ending inside the header block after a
// member for the archive's end (the control files then say the upload is
// incomplete), and an empty stream for no archive.
func untarTo(dir string, r io.Reader, gz bool, dirs map[string]bool) error {
	var zr *gzip.Reader
	if gz {
		var err error
		if zr, err = gzip.NewReader(r); err != nil {
			if err == io.EOF {
				err = errors.New("gzip: stdin: unexpected end of file")
			}
			return err
		}
		r = zr
	}
	tc := &countReader{r: r} // the tar reader reads no further than it needs
	x := &untarState{dir: dir, dirs: dirs}
	tr := tar.NewReader(tc)
	var members, next int64 // next: where the next header starts
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err == io.ErrUnexpectedEOF && members > 0 && tc.n > next && tc.n < next+tarBlock {
			break
		}
		if err != nil && members == 0 && (err == io.ErrUnexpectedEOF || errors.Is(err, tar.ErrHeader)) {
			return errors.New("tar: This does not look like a tar archive")
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		members++
		next = tc.n
		if hdr.Typeflag == tar.TypeReg {
			next += (hdr.Size + tarBlock - 1) / tarBlock * tarBlock
		}
		if err := x.member(hdr, tr); err != nil {
			return err
		}
	}
	if tc.n == 0 {
		return errors.New("tar: This does not look like a tar archive")
	}
	if zr != nil {
		// The rest of the compressed stream (the last member's trailer):
		// gzip -d checks it all.
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
	}
	return x.setDirs()
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type untarState struct {
	dir      string
	dirs     map[string]bool // relative paths known to be real directories
	explicit []dirMember     // directory members: mode and mtime set last
}

type dirMember struct {
	path  string
	mode  fs.FileMode
	mtime time.Time
}

func (x *untarState) member(hdr *tar.Header, tr *tar.Reader) error {
	bad := func(err error) error { return fmt.Errorf("tar: %s: %w", hdr.Name, err) }
	rel, ok := memberPath(hdr.Name)
	if !ok {
		return bad(errors.New("unsafe member name (absolute or with ..)"))
	}
	mode := hdr.FileInfo().Mode()
	mode = (mode.Perm() | mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)) &^ 0o077
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeDir:
		if rel == "." {
			return nil
		}
		if err := mkdirParents(x.dir, rel+"/x", x.dirs); err != nil {
			return bad(err)
		}
		x.explicit = append(x.explicit, dirMember{x.dir + "/" + rel, mode, hdr.ModTime})
		return nil
	case tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
	default:
		return bad(fmt.Errorf("unsupported member type %q", hdr.Typeflag))
	}
	if rel == "." {
		return bad(errors.New("not a file name"))
	}
	p, err := x.prepare(rel)
	if err != nil {
		return bad(err)
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return bad(err)
		}
		_, err = io.Copy(f, tr)
		if err == nil {
			err = f.Chmod(mode)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chtimes(p, time.Time{}, hdr.ModTime)
		}
		if err != nil {
			return bad(err)
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, p); err != nil {
			return bad(err)
		}
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return bad(err)
		}
	case tar.TypeLink:
		target, ok := memberPath(hdr.Linkname)
		if !ok || target == "." {
			return bad(fmt.Errorf("unsafe link target %q", hdr.Linkname))
		}
		if err := checkNoSymlinkDirs(x.dir, target, x.dirs); err != nil {
			return bad(fmt.Errorf("link target: %w", err))
		}
		if err := os.Link(x.dir+"/"+target, p); err != nil {
			return bad(err)
		}
	}
	return nil
}

// prepare makes rel's parent directories and removes what is at rel
// (GNU tar replaces an existing file), refusing to replace a directory.
func (x *untarState) prepare(rel string) (string, error) {
	if err := mkdirParents(x.dir, rel, x.dirs); err != nil {
		return "", err
	}
	p := x.dir + "/" + rel
	fi, err := os.Lstat(p)
	switch {
	case err == nil && fi.IsDir():
		return "", errors.New("would replace a directory")
	case err == nil:
		if err := os.Remove(p); err != nil {
			return "", err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	return p, nil
}

// setDirs gives directory members their mode and mtime, deepest first
// (GNU tar's delayed set).
func (x *untarState) setDirs() error {
	for i := len(x.explicit) - 1; i >= 0; i-- {
		d := x.explicit[i]
		if err := os.Chmod(d.path, d.mode); err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		if err := os.Chtimes(d.path, time.Time{}, d.mtime); err != nil {
			return fmt.Errorf("tar: %w", err)
		}
	}
	return nil
}

// memberPath cleans a member name, refusing absolute names and "..".
func memberPath(name string) (string, bool) {
	if name == "" || strings.HasPrefix(name, "/") {
		return "", false
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", false
		}
	}
	return path.Clean(name), true
}

// safeRelPath reports whether p names a file inside a directory: relative,
// without empty, "." or ".." components.
func safeRelPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

// mkdirParents makes the directories above rel inside root (mode 0777
// less the umask, as mkdir -p and tar do), refusing a symbolic link or a
// file on the way. dirs caches the directories checked.
func mkdirParents(root, rel string, dirs map[string]bool) error {
	return walkParents(root, rel, dirs, true)
}

// checkNoSymlinkDirs checks that the directories above rel inside root
// exist and are no symbolic links.
func checkNoSymlinkDirs(root, rel string, dirs map[string]bool) error {
	return walkParents(root, rel, dirs, false)
}

func walkParents(root, rel string, dirs map[string]bool, create bool) error {
	for i := 0; i < len(rel); i++ {
		if rel[i] != '/' {
			continue
		}
		d := rel[:i]
		if dirs[d] {
			continue
		}
		p := root + "/" + d
		fi, err := os.Lstat(p)
		switch {
		case err == nil && fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s is a symbolic link", d)
		case err == nil && !fi.IsDir():
			return fmt.Errorf("%s is not a directory", d)
		case err == nil:
		case create && errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(p, 0o777); err != nil {
				return err
			}
		default:
			return err
		}
		dirs[d] = true
	}
	return nil
}

// statID splits a line of stat output (or of a stat record) into the
// identity ("INO SIZE MTIME CTIME ", with its trailing space) and the path,
// as SAME_AWK's id() does: ok is false when the line does not start with
// four such numbers or has no path.
func statID(s string) (id, p string, ok bool) {
	rest := s
	for i := 0; i < 4; i++ {
		sp := strings.IndexByte(rest, ' ')
		if sp < 0 {
			return "", "", false
		}
		tok := rest[:sp]
		if i < 2 {
			if !hsIsDigits(tok) {
				return "", "", false
			}
		} else if a, b, dot := strings.Cut(tok, "."); !dot || !hsIsDigits(a) || !hsIsDigits(b) {
			return "", "", false
		}
		rest = rest[sp+1:]
	}
	if rest == "" {
		return "", "", false
	}
	return s[:len(s)-len(rest)], rest, true
}

func hsIsDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// statLine is a file's identity as `stat -c '%i %s %.9Y %.9Z %n' -- p`
// prints it (stat does not follow a symbolic link); ok is false for a time
// before 1970, which the record's format cannot hold.
func statLine(fi fs.FileInfo, p string) (string, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	ms, mn := st.Mtim.Unix()
	cs, cn := st.Ctim.Unix()
	if ms < 0 || cs < 0 {
		return "", false
	}
	return fmt.Sprintf("%d %d %d.%09d %d.%09d %s", st.Ino, st.Size, ms, mn, cs, cn, p), true
}

// relTo is path p as a program run in dir opens it.
func hsRelTo(dir, p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return dir + "/" + p
}

// doubt mirrors stage's SAME_AWK step and the sha256sum -c after it: the
// kept paths whose identity in bdir now is not the one base release b's
// stat record holds, and whose content is not the one b's manifest lists.
// They are not recorded for the new release (statcache's skip list).
func doubt(bdir, b string, kept, bmLines []string) map[string]bool {
	rec, ok := map[string]string{}, false
	if data, err := hsReadRegular(bdir + "/.celeroot/stat"); err == nil {
		for i, l := range awkRecords(data) {
			if i == 0 {
				ok = l == "celeroot-stat v1 "+b
				continue
			}
			id, p, good := statID(l)
			if !ok || !good {
				ok = false
				continue
			}
			rec[p] = id
		}
	}
	var doubtful []string
	for _, p := range kept {
		same := false
		if ok && p != "" {
			if fi, err := os.Lstat(hsRelTo(bdir, p)); err == nil {
				if line, good := statLine(fi, p); good {
					id, _, _ := statID(line)
					same = rec[p] == id
				}
			}
		}
		if !same {
			doubtful = append(doubtful, p)
		}
	}
	if len(doubtful) == 0 {
		return nil
	}
	d := map[string]bool{}
	for _, p := range doubtful {
		d[p] = true
	}
	hashOK := map[string]bool{}
	for i, l := range bmLines {
		if i == 0 {
			continue
		}
		f := strings.Split(l, "\t")
		if !d[f[0]] || len(f) < 4 || hashOK[f[0]] || len(f[3]) != 64 {
			continue
		}
		if _, err := hex.DecodeString(f[3]); err != nil {
			continue
		}
		if sum, err := hsFileSum(hsRelTo(bdir, f[0])); err == nil && strings.EqualFold(sum, f[3]) {
			hashOK[f[0]] = true
		}
	}
	skip := map[string]bool{}
	for p := range d {
		if !hashOK[p] {
			skip[p] = true
		}
	}
	return skip
}

// link mirrors LINK_AWK's script: hard-link each kept file of the base
// release bdir into s (cp -l --parents, else mkdir -p and ln -f).
func (h *hostSession) link(bdir, s string, keepLines []string, dirs map[string]bool) {
	for _, l := range keepLines {
		p, _, _ := strings.Cut(l, "\t")
		if err := mkdirParents(s, p, dirs); err != nil {
			h.fail(1, "mkdir: cannot create directory under '%s' for %s: %s", s, p, hsErrText(err))
		}
		src, dst := bdir+"/"+p, s+"/"+p
		err := os.Link(src, dst)
		if errors.Is(err, fs.ErrExist) {
			if err = os.Remove(dst); err == nil {
				err = os.Link(src, dst)
			}
		}
		if err != nil {
			h.fail(1, "ln: failed to create hard link '%s' => '%s': %s", dst, src, hsErrText(err))
		}
	}
}

// merge mirrors stage's merge: the manifest is its header and the kept and
// sent lines sorted bytewise (LC_ALL=C sort); exit 98 when its sha256 is
// not want.
func (h *hostSession) merge(s, v, want string, keepLines []string, part string) {
	data, err := os.ReadFile(part)
	if err != nil {
		h.fail(2, "sort: cannot read: %s: %s", part, hsErrText(err))
	}
	lines := append(append([]string(nil), keepLines...), awkRecords(data)...)
	sort.Strings(lines)
	var b bytes.Buffer
	b.WriteString("celeroot-manifest v1 " + v + "\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	m := s + "/.celeroot/manifest"
	if err := writeFileNoFollow(m, b.Bytes()); err != nil {
		h.fail(2, "cannot create %s: %s", m, hsErrText(err))
	}
	sum := sha256.Sum256(b.Bytes())
	if hex.EncodeToString(sum[:]) != want {
		fmt.Fprintf(h.errw, "cl-host: merged manifest of %s does not match\n", v)
		panic(hostExit(manifestMismatch))
	}
}

// writeFileNoFollow is the shell's `>FILE`: truncate the file in place,
// or create it; a symbolic link there is replaced, not followed.
func writeFileNoFollow(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o666)
	if errors.Is(err, syscall.ELOOP) {
		if err = os.Remove(name); err == nil {
			f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		}
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// count mirrors count S V: a release made of links and a whole manifest
// holds exactly the files its manifest lists (regular files and symbolic
// links, but the manifest itself, the stage control files and
// .celeroot/cl-sha256).
func (h *hostSession) count(s, v string) {
	data, err := os.ReadFile(s + "/.celeroot/manifest")
	if err != nil {
		// The shell's awk fails here (exit 2); the intended message.
		h.die("the upload of release %s has no manifest", v)
	}
	want := 0
	for _, l := range awkRecords(data) {
		if strings.Count(l, "\t") >= 3 {
			want++
		}
	}
	root := filepath.Clean(s)
	manifest, clSum, stage := root+"/.celeroot/manifest", root+"/.celeroot/cl-sha256", root+"/.celeroot/stage/"
	have := 0
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !(d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0) {
			return nil
		}
		if p != manifest && p != clSum && !strings.HasPrefix(p, stage) {
			have++
		}
		return nil
	})
	if want != have {
		h.die("release %s has %d files, its manifest lists %d", v, have, want)
	}
}

// chmodR is `chmod -R go-rwx DIR`: every file and directory (symbolic
// links are left alone) loses its group and other bits; chmod runs on each,
// changed or not (its ctime moves, as with GNU chmod).
func (h *hostSession) chmodR(dir string) {
	var first error
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			err = chmodGoRWX(p)
		}
		if err != nil && first == nil {
			first = fmt.Errorf("changing permissions of '%s': %s", p, hsErrText(err))
		}
		return nil
	})
	if first != nil {
		h.fail(1, "chmod: %v", first)
	}
}

// chmodGoRWX is `chmod go-rwx FILE` (a symbolic link: its target).
func chmodGoRWX(p string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	if err := syscall.Chmod(p, st.Mode&0o7777&^0o077); err != nil {
		return &fs.PathError{Op: "chmod", Path: p, Err: err}
	}
	return nil
}

// prune mirrors prune T KEEP PROTECT...: keep the KEEP most recently
// changed releases (ls -t), current and PROTECT; delete the others, each
// said as "pruned=NAME".
func (h *hostSession) prune(t, keep string, protect ...string) {
	r := t + "/releases"
	if !hsIsDir(r) {
		return
	}
	h.clean(r)
	cur := h.current(t)
	k, kerr := strconv.Atoi(keep)
	for n, d := range lsByTime(r) {
		kept := (kerr == nil && n+1 <= k) || d == cur
		for _, p := range protect {
			if d == p {
				kept = true
			}
		}
		if !kept {
			h.rmrf(r + "/" + d)
			h.printf("pruned=%s\n", d)
		}
	}
}

// lsByTime is `ls -1t DIR`: the names not starting with a dot, newest
// mtime first (of the entry itself), ties by name.
func lsByTime(dir string) []string {
	ents, _ := os.ReadDir(dir)
	type ent struct {
		name string
		t    time.Time
	}
	var es []ent
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			es = append(es, ent{e.Name(), fi.ModTime()})
		}
	}
	sort.Slice(es, func(i, j int) bool {
		if !es[i].t.Equal(es[j].t) {
			return es[i].t.After(es[j].t)
		}
		return es[i].name < es[j].name
	})
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.name
	}
	return names
}

// statRetry is how long statcache waits before its second attempt.
const statRetry = 20 * time.Millisecond

// statcache mirrors statcache T V: write releases/V/.celeroot/stat, the
// identity of every regular file of V's manifest but the skip list's,
// through the temporary file STATTMP. A file changed at or after the
// moment the recording began (the ctime of STATTMP, just written) makes
// the first attempt start again once the clock has moved on (waitTick);
// the second leaves it out.
// On failure it writes no record (the drift check then hashes every file).
func (h *hostSession) statcache(t, v string) {
	d := t + "/releases/" + v
	for _, last := range []bool{false, true} {
		rec, racy, ok := h.statRecord(d, v, last)
		if !ok {
			break
		}
		if racy && !last {
			h.waitTick()
			continue
		}
		if err := os.WriteFile(h.statTmp, rec, 0o666); err == nil {
			_ = renameLikeMv(h.statTmp, d+"/.celeroot/stat")
		}
		break
	}
	_ = syscall.Unlink(h.statTmp)
	_ = syscall.Unlink(h.statTmp + ".skip")
	h.statTmp, h.skip = "", nil
}

// waitTick waits, at most statRetry, until the file times the kernel
// gives move on from STATTMP's ctime: a tick of its coarse clock, a few
// milliseconds (the shell sleeps the whole 20 ms). A chmod sets the ctime
// to now.
func (h *hostSession) waitTick() {
	c0, err := os.Lstat(h.statTmp)
	if err != nil {
		time.Sleep(statRetry)
		return
	}
	s0, n0 := c0.Sys().(*syscall.Stat_t).Ctim.Unix()
	for deadline := time.Now().Add(statRetry); time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		if os.Chmod(h.statTmp, 0o600) != nil {
			continue
		}
		if fi, err := os.Lstat(h.statTmp); err == nil {
			if s, n := fi.Sys().(*syscall.Stat_t).Ctim.Unix(); s != s0 || n != n0 {
				return
			}
		}
	}
}

// statRecord is one attempt of statcache: the record, and racy when a file
// changed at or after the start (left out when last).
func (h *hostSession) statRecord(d, v string, last bool) (rec []byte, racy, ok bool) {
	f, err := os.OpenFile(h.statTmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return nil, false, false
	}
	f.Close()
	fi, err := os.Lstat(h.statTmp)
	if err != nil {
		return nil, false, false
	}
	mSec, mNsec := fi.Sys().(*syscall.Stat_t).Ctim.Unix()
	data, err := os.ReadFile(d + "/.celeroot/manifest")
	if err != nil {
		return nil, false, false
	}
	var b bytes.Buffer
	b.WriteString("celeroot-stat v1 " + v + "\n")
	for i, l := range awkRecords(data) {
		f := strings.Split(l, "\t")
		if i == 0 || len(f) < 4 || f[1] == "120000" || f[0] == "" {
			continue
		}
		p := f[0]
		fi, err := os.Lstat(hsRelTo(d, p))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		line, good := statLine(fi, p)
		if !good {
			return nil, false, false
		}
		if h.skip[p] {
			continue
		}
		cs, cn := fi.Sys().(*syscall.Stat_t).Ctim.Unix()
		if cs > mSec || (cs == mSec && cn >= mNsec) {
			if !last {
				return nil, true, true
			}
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.Bytes(), false, true
}

// activate mirrors activate T V [CMD...]: point current at releases/V
// (a temporary link renamed over it), say "switched", then reload the
// worker ("reload PID -- RESTART..."), or restart it: sv-restart, or exec
// the command.
func (h *hostSession) activate(t, v string, cmd []string) {
	if !hsIsRegular(t + "/releases/" + v + "/.celeroot/manifest") {
		h.die("release %s is not complete", v)
	}
	tmp := fmt.Sprintf("%s/.current.tmp.%d", t, h.pid)
	if hsLexists(tmp) {
		if err := syscall.Unlink(tmp); err != nil {
			h.fail(1, "rm: cannot remove '%s': %s", tmp, hsErrText(err))
		}
	}
	if err := os.Symlink("releases/"+v, tmp); err != nil {
		h.fail(1, "ln: failed to create symbolic link '%s': %s", tmp, hsErrText(err))
	}
	if err := os.Rename(tmp, t+"/current"); err != nil {
		fmt.Fprintf(h.errw, "mv: cannot move '%s' to '%s': %s\n", tmp, t+"/current", hsErrText(err))
		_ = syscall.Unlink(tmp)
		h.die("cannot switch %s/current (mv -T failed)", t)
	}
	h.printf("switched\n")
	if !h.fresh {
		now := time.Now()
		_ = os.Chtimes(t+"/releases/"+v, now, now)
	}
	if len(cmd) > 0 && cmd[0] == "reload" {
		if len(cmd) < 3 {
			h.fail(2, "sh: shift: can't shift that many")
		}
		pid := cmd[1]
		cmd = cmd[3:]
		if hsSameFile("/proc/"+pid+"/exe", t+"/current/bin/cl") && hsSignal(pid, syscall.SIGUSR1) {
			h.printf("reloaded\n")
			return
		}
	}
	switch {
	case len(cmd) == 0 || cmd[0] == "":
	case cmd[0] == "sv-restart":
		h.svrestart(cmd[1:])
	default:
		h.exec(cmd)
	}
}

// svrestart mirrors svrestart NAME STATE CL ARGV...: SIGHUP the supervisor
// NAME when it runs ARGV already and is alive, else exec `CL supervise
// restart NAME --state-dir STATE -- ARGV...`.
func (h *hostSession) svrestart(args []string) {
	if len(args) < 3 {
		h.fail(2, "cl-host: sv-restart wants NAME STATE CL ARGV...")
	}
	n, st, cl, argv := args[0], args[1], args[2], args[3:]
	_ = chmodGoRWX(st)
	_ = chmodGoRWX(st + "/" + n + ".log")
	if pid, ok := hsReadFirstLine(st + "/" + n + ".pid"); ok && supervisorRuns(pid, n, st+"/"+n+".argv", argv) && hsSignal(pid, syscall.SIGHUP) {
		return
	}
	h.exec(append([]string{cl, "supervise", "restart", n, "--state-dir", st, "--"}, argv...))
}

// supervisorRuns is svrestart's test: pid's /proc cmdline is readable and
// holds "supervise" and name, and the .argv file is argv, one a line.
func supervisorRuns(pid, name, argvFile string, argv []string) bool {
	cmdline := "/proc/" + pid + "/cmdline"
	if syscall.Access(cmdline, unix.R_OK) != nil {
		return false
	}
	want := "\n"
	if len(argv) > 0 {
		want = strings.Join(argv, "\n") + "\n"
	}
	if got, err := os.ReadFile(argvFile); err != nil || string(got) != want {
		return false
	}
	cl, err := os.ReadFile(cmdline)
	if err != nil || !bytes.Contains(cl, []byte("supervise")) {
		return false
	}
	// grep -F -e NAME: each line of NAME is a pattern.
	for _, pat := range strings.Split(name, "\n") {
		if bytes.Contains(cl, []byte(pat)) {
			return true
		}
	}
	return false
}

// signal is the shell's `kill -SIG PID`: false when PID is not a number
// or the signal cannot be sent.
func hsSignal(pid string, sig syscall.Signal) bool {
	n, err := strconv.Atoi(pid)
	if !hsIsDigits(pid) || err != nil {
		return false
	}
	return syscall.Kill(n, sig) == nil
}

// exec is the shell's `exec "$@"`: replace this process by the command
// (found through PATH when its name has no slash), after flushing stdout.
// When that fails: sh's message and status (127 not found, 126 not
// executable), and the end marker as usual.
func (h *hostSession) exec(argv []string) {
	h.flush()
	name, prog := argv[0], argv[0]
	if !strings.Contains(name, "/") {
		p, err := exec.LookPath(name)
		if err != nil && !errors.Is(err, exec.ErrDot) {
			h.fail(127, "sh: exec: %s: not found", name)
		}
		prog = p
	}
	env := hostEnv()
	err := syscall.Exec(prog, argv, env)
	if err == syscall.ENOEXEC {
		// sh runs an executable without #! as a script.
		err = syscall.Exec("/bin/sh", append([]string{"/bin/sh", prog}, argv[1:]...), env)
	}
	switch {
	case err == syscall.ENOENT || err == syscall.ENOTDIR:
		h.fail(127, "sh: exec: %s: not found", name)
	case err == syscall.EACCES:
		h.fail(126, "sh: exec: %s: Permission denied", name)
	}
	h.fail(2, "sh: exec: %s: %s", name, hsErrText(err))
}

// hostEnv is the environment of the programs the library runs: its own,
// with LC_ALL=C (the library exports it).
func hostEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LC_ALL=") {
			env = append(env, kv)
		}
	}
	return append(env, "LC_ALL=C")
}

// mv is `mv SRC DST`: into DST when it is a directory.
func (h *hostSession) mv(src, dst string) {
	if err := renameLikeMv(src, dst); err != nil {
		h.fail(1, "mv: cannot move '%s' to '%s': %s", src, dst, hsErrText(err))
	}
}

func renameLikeMv(src, dst string) error {
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = strings.TrimRight(dst, "/") + "/" + path.Base(src)
	}
	return os.Rename(src, dst)
}

// rmrf is `rm -rf PATH`.
func (h *hostSession) rmrf(p string) {
	if err := os.RemoveAll(p); err != nil {
		h.fail(1, "rm: cannot remove '%s': %s", p, hsErrText(err))
	}
}

// sum256 mirrors sum256 FILE: its sha256 in hex ("" when unreadable).
func sum256(name string) string {
	s, _ := hsFileSum(name)
	return s
}

func hsFileSum(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hs := sha256.New()
	if _, err := io.Copy(hs, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(hs.Sum(nil)), nil
}

// readFirstLine is `read -r VAR <FILE`: the first line, without leading
// and trailing blanks; false when the file cannot be read or the line has
// no newline.
func hsReadFirstLine(name string) (string, bool) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", false
	}
	line, _, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return "", false
	}
	return strings.Trim(string(line), " \t"), true
}

// readRegular reads a file that `[ -f FILE ]` accepts.
func hsReadRegular(name string) ([]byte, error) {
	if !hsIsRegular(name) {
		return nil, fs.ErrNotExist
	}
	return os.ReadFile(name)
}

// awkRecords splits data into lines as awk reads them: a last line
// without a newline is a line too.
func awkRecords(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	s := strings.TrimSuffix(string(data), "\n")
	return strings.Split(s, "\n")
}

// shDirname is dirname(1).
func shDirname(p string) string {
	p = strings.TrimRight(p, "/")
	i := strings.LastIndex(p, "/")
	switch {
	case p == "":
		return "/"
	case i < 0:
		return "."
	}
	if d := strings.TrimRight(p[:i], "/"); d != "" {
		return d
	}
	return "/"
}

// globQuote escapes the glob metacharacters of a literal path.
func globQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sameFile is `[ A -ef B ]`: both exist (links followed) and are the same
// file.
func hsSameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// The shell's file tests: -d, -f, -e (links followed), -L, and -e || -L.
func hsIsDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func hsIsRegular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func hsExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func hsIsSymlink(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

func hsLexists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// errText is an error's cause without the path the message names anyway.
func hsErrText(err error) string {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err.Error()
	case errors.As(err, &le):
		return le.Err.Error()
	}
	return err.Error()
}
