package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Module is a task module: tasks/<name>.yaml in the config repository.
type Module struct {
	Name  string     `yaml:"-" json:"name"`
	File  string     `yaml:"-" json:"file"`
	Tasks Map[*Task] `yaml:"tasks" json:"tasks"`
}

// Task is one task definition of a module.
type Task struct {
	Name        string            `yaml:"-" json:"name"`
	Module      string            `yaml:"-" json:"module"`
	Description string            `yaml:"description,omitempty" json:"description,omitempty"`
	Params      Map[*Param]       `yaml:"params" json:"params"`
	Timeout     Duration          `yaml:"timeout" json:"timeout"`
	Retries     int               `yaml:"retries" json:"retries"`
	Command     []string          `yaml:"command,omitempty" json:"command,omitempty"`
	Script      string            `yaml:"script,omitempty" json:"script,omitempty"`
	Env         map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Builtin     bool              `yaml:"-" json:"builtin,omitempty"`
}

// Ref is the qualified name module.task.
func (t *Task) Ref() string { return t.Module + "." + t.Name }

// Param types.
const (
	ParamString = "string"
	ParamInt    = "int"
	ParamBool   = "bool"
)

// Param declares one typed task parameter.
type Param struct {
	Name        string   `yaml:"-" json:"name"`
	Type        string   `yaml:"type" json:"type"`
	Default     any      `yaml:"default,omitempty" json:"default,omitempty"`
	Required    bool     `yaml:"required,omitempty" json:"required,omitempty"`
	Pattern     string   `yaml:"pattern,omitempty" json:"pattern,omitempty"`
	Enum        []string `yaml:"enum,omitempty" json:"enum,omitempty"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	re          *regexp.Regexp
}

// DefaultTaskTimeout applies to tasks without a timeout.
const DefaultTaskTimeout = Duration(3600 * 1e9)

// BuiltinModule is the name of the module of built-in tasks, which every
// worker loads.
const BuiltinModule = "builtin"

// Builtins returns the built-in task definitions (ping, install, remove,
// service), shared and read-only. The worker implements them; their params
// are validated here like any other task's.
func Builtins() *Module { return builtins() }

var builtins = sync.OnceValue(makeBuiltins)

func makeBuiltins() *Module {
	m := &Module{Name: BuiltinModule, File: "(built-in)"}
	pkg := func() Map[*Param] {
		var p Map[*Param]
		p.Set("package", &Param{Name: "package", Type: ParamString, Required: true,
			Pattern:     `[A-Za-z0-9][A-Za-z0-9+._:~=-]{0,127}`,
			Description: "package name, optionally =version (apt) or :arch"})
		return p
	}
	add := func(t *Task) {
		t.Module, t.Builtin = BuiltinModule, true
		if t.Timeout == 0 {
			t.Timeout = Duration(30 * 60 * 1e9)
		}
		for _, p := range t.Params.Values() {
			p.compile()
		}
		m.Tasks.Set(t.Name, t)
	}
	add(&Task{Name: "ping", Description: "Answer pong (checks that the worker runs tasks)", Timeout: Duration(60 * 1e9)})
	add(&Task{Name: "install", Description: "Install a package with the host's package manager", Params: pkg()})
	add(&Task{Name: "remove", Description: "Remove a package with the host's package manager", Params: pkg()})
	var svc Map[*Param]
	svc.Set("name", &Param{Name: "name", Type: ParamString, Required: true, Pattern: `[A-Za-z0-9][A-Za-z0-9@._:-]{0,127}`, Description: "service (unit) name"})
	svc.Set("action", &Param{Name: "action", Type: ParamString, Required: true, Enum: []string{"start", "stop", "restart", "reload", "status", "enable", "disable"}, Description: "what to do"})
	add(&Task{Name: "service", Description: "Control a system service", Params: svc, Timeout: Duration(5 * 60 * 1e9)})
	return m
}

func (p *Param) compile() error {
	if p.Pattern == "" {
		return nil
	}
	re, err := regexp.Compile("^(?:" + p.Pattern + ")$")
	if err != nil {
		return err
	}
	p.re = re
	return nil
}

// Check converts v (a YAML/JSON value, or a string from the command line)
// to the parameter's type and checks pattern and enum. It returns the
// normalized value. A string holding a secret reference ("${secret:…}")
// passes as it is (its type, pattern and enum cannot be judged before it is
// resolved): the worker checks the resolved value with CheckValue before
// the run starts.
func (p *Param) Check(v any) (any, error) { return p.check(v, true) }

// CheckValue is Check for a value with its secret references resolved:
// pattern and enum apply to it whatever it holds. Its errors never quote
// the value (it may be a secret).
func (p *Param) CheckValue(v any) (any, error) { return p.check(v, false) }

// secretRefOpen starts a secret reference (package secrets parses them).
const secretRefOpen = "${secret:"

func (p *Param) check(v any, deferRefs bool) (any, error) {
	if s, ok := v.(string); ok && deferRefs && strings.Contains(s, secretRefOpen) && !strings.ContainsRune(s, 0) {
		return s, nil
	}
	quote := func(s string) string {
		if deferRefs {
			return strconv.Quote(s)
		}
		return "the resolved value"
	}
	switch p.Type {
	case ParamBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				return nil, fmt.Errorf("param %s: %s is not a bool (use true or false)", p.Name, quote(x))
			}
			return b, nil
		}
		return nil, fmt.Errorf("param %s: expected a bool, got %v", p.Name, v)
	case ParamInt:
		switch x := v.(type) {
		case int:
			return x, nil
		case int64:
			return int(x), nil
		case float64:
			if x == float64(int(x)) {
				return int(x), nil
			}
		case string:
			i, err := strconv.Atoi(x)
			if err != nil {
				return nil, fmt.Errorf("param %s: %s is not a whole number", p.Name, quote(x))
			}
			return i, nil
		}
		return nil, fmt.Errorf("param %s: expected a whole number, got %v", p.Name, v)
	default:
		s, ok := v.(string)
		if !ok {
			switch v.(type) {
			case int, int64, float64, bool:
				s = fmt.Sprint(v)
			default:
				return nil, fmt.Errorf("param %s: expected a string, got %T", p.Name, v)
			}
		}
		if strings.ContainsRune(s, 0) {
			return nil, fmt.Errorf("param %s: contains a NUL byte", p.Name)
		}
		shown := quote(s)
		if p.re != nil && !p.re.MatchString(s) {
			return nil, fmt.Errorf("param %s: %s does not match the pattern %s", p.Name, shown, p.Pattern)
		}
		if len(p.Enum) > 0 && !contains(p.Enum, s) {
			return nil, fmt.Errorf("param %s: %s is not one of %s", p.Name, shown, strings.Join(p.Enum, ", "))
		}
		return s, nil
	}
}

// ParamError is a problem with one parameter of a task run.
type ParamError struct {
	Param string // the parameter concerned
	Err   error
}

func (e ParamError) Error() string { return e.Err.Error() }

// CheckResolved checks the params of a run again once its secret
// references are resolved (Param.CheckValue): the values references stood
// for get the type, pattern and enum checks Check let them skip. It returns
// the normalized params; its error never quotes a value.
func (t *Task) CheckResolved(params map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(params))
	for name, v := range params {
		out[name] = v
		if p, ok := t.Params.Get(name); ok {
			c, err := p.CheckValue(v)
			if err != nil {
				return nil, fmt.Errorf("task %s: %w", t.Ref(), err)
			}
			out[name] = c
		}
	}
	return out, nil
}

// ResolveParams checks given against the task's declared parameters and
// fills in defaults. Unknown and missing required parameters are errors.
func (t *Task) ResolveParams(given map[string]any) (map[string]any, []ParamError) {
	out := map[string]any{}
	var errs []ParamError
	for _, name := range sortedKeys(given) {
		p, ok := t.Params.Get(name)
		if !ok {
			hint := ""
			if s := didYouMean(name, t.Params.Keys()); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			known := "it takes no params"
			if t.Params.Len() > 0 {
				known = "it takes: " + strings.Join(t.Params.Keys(), ", ")
			}
			errs = append(errs, ParamError{name, fmt.Errorf("task %s has no param %q%s; %s", t.Name, name, hint, known)})
			continue
		}
		v, err := p.Check(given[name])
		if err != nil {
			errs = append(errs, ParamError{name, err})
			continue
		}
		out[name] = v
	}
	for _, p := range t.Params.Values() {
		if _, ok := out[p.Name]; ok {
			continue
		}
		if p.Default != nil {
			out[p.Name] = p.Default
		} else if p.Required {
			errs = append(errs, ParamError{p.Name, fmt.Errorf("task %s needs param %q (%s)", t.Name, p.Name, p.Type)})
		}
	}
	return out, errs
}

// ParamEnv renders resolved params as CL_PARAM_<NAME> environment variables.
func ParamEnv(params map[string]any) []string {
	env := make([]string, 0, len(params))
	for _, k := range sortedKeys(params) {
		env = append(env, "CL_PARAM_"+strings.ToUpper(k)+"="+fmt.Sprint(params[k]))
	}
	sort.Strings(env)
	return env
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FindTask resolves a task name ("name" or "module.name") among the given
// modules plus the built-ins. It returns the task or a message saying why not.
func (c *Config) FindTask(name string, modules []string) (*Task, error) {
	builtins := Builtins()
	if mod, task, ok := strings.Cut(name, "."); ok {
		if mod == BuiltinModule {
			if t, ok := builtins.Tasks.Get(task); ok {
				return t, nil
			}
			return nil, fmt.Errorf("no built-in task %q (built-ins: %s)", task, strings.Join(builtins.Tasks.Keys(), ", "))
		}
		if !contains(modules, mod) {
			return nil, fmt.Errorf("module %q is not loaded by this role (it loads: %s)", mod, strings.Join(modules, ", "))
		}
		m, ok := c.Modules.Get(mod)
		if !ok {
			return nil, fmt.Errorf("no task module %q (expected tasks/%s.yaml)", mod, mod)
		}
		if t, ok := m.Tasks.Get(task); ok {
			return t, nil
		}
		return nil, fmt.Errorf("module %s has no task %q%s", mod, task, suggest(task, m.Tasks.Keys()))
	}
	if t, ok := builtins.Tasks.Get(name); ok {
		return t, nil
	}
	var found []*Task
	var all []string
	for _, mod := range modules {
		m, ok := c.Modules.Get(mod)
		if !ok {
			continue
		}
		all = append(all, m.Tasks.Keys()...)
		if t, ok := m.Tasks.Get(name); ok {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("no task %q in modules %s%s", name, strings.Join(modules, ", "), suggest(name, all))
	}
	refs := make([]string, len(found))
	for i, t := range found {
		refs[i] = t.Ref()
	}
	return nil, fmt.Errorf("task %q is ambiguous: write one of %s", name, strings.Join(refs, ", "))
}

func suggest(name string, candidates []string) string {
	if s := didYouMean(name, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}
