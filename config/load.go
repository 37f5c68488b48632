package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Options says what to load.
type Options struct {
	// Path of cl.yaml. Its directory holds tasks/ and environments/.
	Path string
	// Env names an overlay, environments/<Env>.yaml, merged over cl.yaml.
	Env string
	// Content, when non-nil, is used instead of reading Path (to validate an
	// edit before writing it).
	Content []byte
	// FS, when non-nil, holds the files: Path is then the slash-separated
	// path of cl.yaml inside it (the tree of a commit, read without a
	// checkout). When nil, files are read from disk: os.DirFS of Path's
	// directory.
	FS fs.FS
}

// ErrNotFound is returned when cl.yaml does not exist.
var ErrNotFound = errors.New("configuration file not found")

// Counted repetitions make big programs: compiled on first use, not at
// every cl start (workers, the deploy's host step).
var envNameRE = lazyRegexp(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// Load reads, decodes, defaults and validates a configuration and its task
// modules. Problems in the files are returned as Diagnostics (errors and
// warnings); err is non-nil only when the files could not be read at all.
// Callers must check diags.HasErrors() before using the Config.
func Load(opts Options) (cfg *Config, diags Diagnostics, err error) {
	l := &loader{fileOf: map[*yaml.Node]string{}}
	defer func() {
		if r := recover(); r != nil { // a parser bug must not crash the CLI
			diags = append(diags, Diagnostic{Pos: Pos{File: opts.Path}, Severity: SeverityError, Message: fmt.Sprintf("cannot parse the file: %v", r), Hint: "check the YAML syntax"})
			err = nil
		}
		diags.Sort()
	}()
	fsys, name, src, err := opts.files()
	if err != nil {
		return nil, nil, err
	}
	data := opts.Content
	if data == nil {
		data, err = readLimited(fsys, name, opts.Path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s: %w: create one with `cl config init` or point -c/--config (or CL_CONFIG) at it", opts.Path, ErrNotFound)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	root := l.parse(opts.Path, data, &diags)
	var overlayEnv string // cluster.environment as the overlay declares it
	declared := l.checkDeclaredEnv(opts.Path, root, &diags)
	if env := firstNonEmpty(opts.Env, declared); env != "" {
		if !envNameRE().MatchString(env) {
			return nil, nil, fmt.Errorf("--env %q: use letters, digits, - and _ (it names environments/<env>.yaml)", env)
		}
		file, odata, err := readOverlay(fsys, env)
		switch {
		case errors.Is(err, fs.ErrNotExist) && env == declared:
			// cl.yaml itself is this environment: no overlay.
			src.Env = env
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil, fmt.Errorf("--env %s: %s does not exist: create it, or pick another environment%s", env,
				src.join("environments", env+".yaml"), knownEnvs(fsys, declared))
		case err != nil:
			return nil, nil, err
		default:
			src.Env = strings.TrimSuffix(file, ".yaml")
			src.EnvPath = src.join("environments", file)
			overlay := l.parse(src.EnvPath, odata, &diags)
			overlayEnv = declaredEnv(overlay)
			root = l.merge(root, overlay)
		}
	}
	cfg = &Config{Source: src, fsys: fsys, files: map[string][]byte{opts.Path: data}}
	dec := newDecoder(l.file(opts.Path), &diags)
	if root != nil && !diags.HasErrors() {
		dec.decode(root, reflect.ValueOf(cfg).Elem(), "", 0)
	}
	cfg.positions, cfg.keyPos, cfg.setPaths = dec.pos, dec.keyPos, dec.set
	if overlayEnv != "" && overlayEnv != src.Env {
		diags = append(diags, Diagnostic{Pos: Pos{File: src.EnvPath}, Severity: SeverityError, Path: "cluster.environment",
			Message: fmt.Sprintf("the overlay environments/%s.yaml declares environment %q", src.Env, overlayEnv),
			Hint:    fmt.Sprintf("set it to %q or remove it (an overlay is the environment its file names)", src.Env)})
	}
	cfg.Cluster.Environment = src.Env
	cfg.loadModules(&diags)
	if root == nil {
		return cfg, diags, nil
	}
	// Validate even when decoding found errors, so that every problem is
	// reported at once; but drop rule violations about values that failed to
	// decode (they would only repeat the decoding error).
	decodeErrs := diags.Errors()
	cfg.applyDefaults()
	var rules Diagnostics
	cfg.validate(&rules)
	for _, r := range rules {
		if !overlaps(r.Path, decodeErrs) {
			diags = append(diags, r)
		}
	}
	return cfg, diags, nil
}

// overlaps reports whether path is, contains or lies inside the path of
// one of the diagnostics.
func overlaps(path string, ds Diagnostics) bool {
	for _, d := range ds {
		if d.Path == "" || path == "" {
			continue
		}
		if within(path, d.Path) || within(d.Path, path) {
			return true
		}
	}
	return false
}

func within(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+".") || strings.HasPrefix(path, prefix+"[")
}

// LoadValid is Load for commands that need a valid configuration: any error
// diagnostic is returned as the error (a Diagnostics value).
func LoadValid(opts Options) (*Config, Diagnostics, error) {
	cfg, diags, err := Load(opts)
	if err != nil {
		return nil, nil, err
	}
	if diags.HasErrors() {
		return nil, diags, diags.Errors()
	}
	return cfg, diags.Warnings(), nil
}

// files returns the file system rooted at cl.yaml's directory, cl.yaml's
// name in it, and the Source naming the files for diagnostics.
func (opts Options) files() (fs.FS, string, Source, error) {
	if opts.FS == nil {
		dir := filepath.Dir(opts.Path)
		src := Source{Path: opts.Path, Dir: dir, TasksDir: filepath.Join(dir, "tasks")}
		return os.DirFS(dir), filepath.Base(opts.Path), src, nil
	}
	p := path.Clean(opts.Path)
	if !fs.ValidPath(p) {
		return nil, "", Source{}, fmt.Errorf("config path %q: give cl.yaml's slash-separated path inside the tree, such as cl.yaml or fleet/cl.yaml", opts.Path)
	}
	dir := path.Dir(p)
	fsys := opts.FS
	if dir != "." {
		sub, err := fs.Sub(opts.FS, dir)
		if err != nil {
			return nil, "", Source{}, fmt.Errorf("config directory %s: %w", dir, err)
		}
		fsys = sub
	}
	src := Source{Path: opts.Path, Dir: dir, TasksDir: path.Join(dir, "tasks"), inFS: true}
	return fsys, path.Base(p), src, nil
}

// join names a file of the configuration directory for diagnostics.
func (s Source) join(elem ...string) string {
	if s.inFS {
		return path.Join(append([]string{s.Dir}, elem...)...)
	}
	return filepath.Join(append([]string{s.Dir}, elem...)...)
}

// readLimited reads name from fsys, at most maxFileSize+1 bytes; display
// names it in errors.
func readLimited(fsys fs.FS, name, display string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory: point at the cl.yaml file inside it", display)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", display, err)
	}
	return data, nil
}

// readFile reads a file from disk as Load does.
func readFile(p string) ([]byte, error) {
	return readLimited(os.DirFS(filepath.Dir(p)), filepath.Base(p), p)
}

type loader struct {
	fileOf map[*yaml.Node]string
}

func (l *loader) file(def string) func(*yaml.Node) string {
	return func(n *yaml.Node) string {
		if f, ok := l.fileOf[n]; ok {
			return f
		}
		return def
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse turns bytes into a root mapping node, tagging every node with its
// file. Problems become diagnostics and a nil node.
func (l *loader) parse(file string, data []byte, diags *Diagnostics) *yaml.Node {
	fail := func(line int, msg, hint string) *yaml.Node {
		*diags = append(*diags, Diagnostic{Pos: Pos{File: file, Line: line, Col: min(line, 1)}, Severity: SeverityError, Message: msg, Hint: hint})
		return nil
	}
	if len(data) > maxFileSize {
		return fail(0, fmt.Sprintf("file is larger than %d MiB", maxFileSize>>20), "a cl.yaml is a few KiB; check that this is the right file")
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return fail(0, "file is not UTF-8 text (binary data?)", "point -c at the YAML configuration file")
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(0, "file is empty", "start from `cl config init`")
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return fail(line, "invalid YAML: "+msg, "fix the syntax at that line (indentation uses spaces; quote values containing ': ' or '#')")
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fail(extra.Line, "file holds more than one YAML document", "remove the second document (after ---)")
	}
	if len(doc.Content) == 0 {
		return fail(0, "file is empty", "start from `cl config init`")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		*diags = append(*diags, Diagnostic{Pos: Pos{File: file, Line: root.Line, Col: root.Column}, Severity: SeverityError, Message: "the top level must be a mapping (cluster:, hosts:, workers: ...)", Hint: "start from `cl config init`"})
		return nil
	}
	l.tag(root, file, 0)
	return root
}

func (l *loader) tag(n *yaml.Node, file string, depth int) {
	if n == nil || depth > maxDepth || len(l.fileOf) > maxNodes {
		return
	}
	if _, done := l.fileOf[n]; done {
		return
	}
	l.fileOf[n] = file
	for _, c := range n.Content {
		l.tag(c, file, depth+1)
	}
}

// merge overlays o on base: mappings merge key by key (recursively), any
// other value (scalars and lists) replaces the base value, and a null value
// removes the key.
func (l *loader) merge(base, o *yaml.Node) *yaml.Node {
	if o == nil {
		return base
	}
	if base == nil {
		return o
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: base.Tag, Line: base.Line, Column: base.Column}
	l.fileOf[out] = l.fileOf[base]
	index := map[string]int{}
	for i := 0; i+1 < len(base.Content); i += 2 {
		index[base.Content[i].Value] = len(out.Content)
		out.Content = append(out.Content, base.Content[i], base.Content[i+1])
	}
	var drop []int
	for i := 0; i+1 < len(o.Content); i += 2 {
		k, v := o.Content[i], resolveAlias(o.Content[i+1])
		j, ok := index[k.Value]
		switch {
		case !ok && isNull(v):
		case !ok:
			index[k.Value] = len(out.Content)
			out.Content = append(out.Content, k, o.Content[i+1])
		case isNull(v):
			drop = append(drop, j)
		default:
			bv := resolveAlias(out.Content[j+1])
			if v.Kind == yaml.MappingNode && bv != nil && bv.Kind == yaml.MappingNode {
				out.Content[j+1] = l.merge(bv, v)
			} else {
				out.Content[j+1] = o.Content[i+1]
			}
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(drop)))
	for _, j := range drop {
		out.Content = append(out.Content[:j], out.Content[j+2:]...)
	}
	return out
}

var moduleNameRE = lazyRegexp(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// loadModules reads every tasks/*.yaml (and *.yml) file as a task module.
func (c *Config) loadModules(diags *Diagnostics) {
	entries, err := fs.ReadDir(c.fsys, "tasks")
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		*diags = append(*diags, Diagnostic{Pos: Pos{File: c.Source.TasksDir}, Severity: SeverityError, Message: fmt.Sprintf("cannot read task modules: %v", err), Hint: "make tasks/ a readable directory"})
		return
	}
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		c.loadModule("tasks/"+name, c.Source.join("tasks", name), strings.TrimSuffix(name, ext), diags)
	}
}

// loadModule loads the module in rel (inside the configuration directory),
// named file in diagnostics.
func (c *Config) loadModule(rel, file, name string, diags *Diagnostics) {
	errAt := func(msg, hint string) {
		*diags = append(*diags, Diagnostic{Pos: Pos{File: file}, Severity: SeverityError, Message: msg, Hint: hint})
	}
	if !moduleNameRE().MatchString(name) {
		errAt(fmt.Sprintf("module name %q is not valid", name), "name task module files like apt_management.yaml (letters, digits, _)")
		return
	}
	if prev, dup := c.Modules.Get(name); dup {
		errAt(fmt.Sprintf("module %s is defined twice (also in %s)", name, prev.File), "keep one of the two files")
		return
	}
	data, err := readLimited(c.fsys, rel, file)
	if err != nil {
		errAt(fmt.Sprintf("cannot read: %v", err), "make the file readable")
		return
	}
	l := &loader{fileOf: map[*yaml.Node]string{}}
	before := len(diags.Errors())
	root := l.parse(file, data, diags)
	if root == nil {
		return
	}
	m := &Module{Name: name, File: file}
	dec := newDecoder(l.file(file), diags)
	dec.decode(root, reflect.ValueOf(m).Elem(), "", 0)
	c.Modules.Set(name, m) // also when broken: its users must not report it missing
	if len(diags.Errors()) > before {
		return
	}
	for _, t := range m.Tasks.Values() {
		t.Module = name
		if t.Timeout == 0 {
			t.Timeout = DefaultTaskTimeout
		}
		c.validateTask(t, dec, diags)
	}
}

// lazyRegexp compiles expr on its first use.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
