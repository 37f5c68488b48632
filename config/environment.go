package config

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// envAliases are the conventional short and long names of the usual
// environments: `--env development` finds environments/dev.yaml when
// there is no development.yaml, and the other way round.
var envAliases = map[string]string{
	"development": "dev", "dev": "development",
	"production": "prod", "prod": "production",
	"staging": "stage", "stage": "staging",
}

// readOverlay reads environments/<env>.yaml, or the file of env's alias
// when that one does not exist; it returns the file's name (its base
// name is the environment's canonical name: the Redis namespace's).
func readOverlay(fsys fs.FS, env string) (string, []byte, error) {
	file := env + ".yaml"
	data, err := readLimited(fsys, "environments/"+file, "environments/"+file)
	if alias, ok := envAliases[env]; ok && errorsIsNotExist(err) {
		if adata, aerr := readLimited(fsys, "environments/"+alias+".yaml", "environments/"+alias+".yaml"); aerr == nil {
			return alias + ".yaml", adata, nil
		}
	}
	return file, data, err
}

func errorsIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// declaredEnv returns cluster.environment of a parsed document ("" when
// it has none): a cl.yaml that declares its environment may be named by
// --env without an overlay file.
func declaredEnv(root *yaml.Node) string {
	n := mappingValue(root, "cluster")
	if v := mappingValue(n, "environment"); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// checkDeclaredEnv returns cl.yaml's cluster.environment when it is a
// valid environment name; an invalid one is an error diagnostic at its
// position (and no environment), not a failure to load.
func (l *loader) checkDeclaredEnv(file string, root *yaml.Node, diags *Diagnostics) string {
	env := declaredEnv(root)
	if env == "" || envNameRE().MatchString(env) {
		return env
	}
	v := mappingValue(mappingValue(root, "cluster"), "environment")
	*diags = append(*diags, Diagnostic{Pos: Pos{File: file, Line: v.Line, Col: v.Column}, Severity: SeverityError,
		Path: "cluster.environment", Message: fmt.Sprintf("%q is not an environment name", env),
		Hint: "use letters, digits, - and _ (it names environments/<env>.yaml and the Redis namespace)"})
	return ""
}

// mappingValue returns the value of key in a mapping node (or a document
// holding one), nil when there is none.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// knownEnvs lists the environments there are, for an error message.
func knownEnvs(fsys fs.FS, declared string) string {
	names := map[string]bool{}
	if declared != "" {
		names[declared] = true
	}
	if entries, err := fs.ReadDir(fsys, "environments"); err == nil {
		for _, e := range entries {
			if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !e.IsDir() {
				names[n] = true
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	return " (there are: " + strings.Join(list, ", ") + ")"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// EnvName returns the environment Load(opts) uses: opts.Env, or its
// alias's name when only the alias's overlay exists, or, without
// opts.Env, the one cl.yaml declares ("" for none). When the files cannot
// be read it returns opts.Env unchanged: Load reports the problem. The
// CLI names every Redis namespace and worker after it.
func EnvName(opts Options) string {
	fsys, name, _, err := opts.files()
	if err != nil {
		return opts.Env
	}
	data := opts.Content
	if data == nil {
		if data, err = readLimited(fsys, name, opts.Path); err != nil {
			return opts.Env
		}
	}
	l := &loader{fileOf: map[*yaml.Node]string{}}
	var diags Diagnostics
	var root *yaml.Node
	func() {
		defer func() { _ = recover() }()
		root = l.parse(opts.Path, data, &diags)
	}()
	declared := declaredEnv(root)
	if !envNameRE().MatchString(declared) {
		declared = "" // Load reports it
	}
	env := firstNonEmpty(opts.Env, declared)
	if env == "" || !envNameRE().MatchString(env) {
		return env
	}
	if file, _, err := readOverlay(fsys, env); err == nil {
		return strings.TrimSuffix(file, ".yaml")
	}
	return env
}
