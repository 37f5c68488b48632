package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"gopkg.in/yaml.v3"
)

// HostSpec is a host as given on the command line (cl host add/update).
// Empty fields are left out (add) or left unchanged (update).
type HostSpec struct {
	Name       string
	Role       string
	Address    string
	User       string
	Port       int
	Key        string
	Jump       string
	Fleet      string
	Tags       map[string]string
	RemoveTags []string
}

// Changes lists what an update with s sets, in a fixed order ("role web",
// "port 2222", "tag k=v", "untag k"): the summary of `cl host update`.
func (s HostSpec) Changes() []string {
	var what []string
	for _, kv := range [][2]string{{"role", s.Role}, {"address", s.Address}, {"user", s.User}, {"ssh-key", s.Key}, {"jump", s.Jump}} {
		if kv[1] != "" {
			what = append(what, kv[0]+" "+kv[1])
		}
	}
	if s.Port != 0 {
		what = append(what, fmt.Sprintf("port %d", s.Port))
	}
	keys := make([]string, 0, len(s.Tags))
	for k := range s.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		what = append(what, "tag "+k+"="+s.Tags[k])
	}
	for _, k := range s.RemoveTags {
		what = append(what, "untag "+k)
	}
	return what
}

// HostExistsError is AddHost's error for a name already in hosts:.
type HostExistsError struct {
	Name string
	Line int
	// Meanwhile is set when the host was not there when the command
	// started: another cl added it concurrently.
	Meanwhile bool
}

func (e *HostExistsError) Error() string {
	if e.Meanwhile {
		return fmt.Sprintf("host %s already exists (added meanwhile by another cl): choose another name, or `cl host update %s`", e.Name, e.Name)
	}
	return fmt.Sprintf("host %s already exists (line %d): use `cl host update %s`", e.Name, e.Line, e.Name)
}

// AddHost returns data with host h appended to hosts:.
func AddHost(data []byte, h HostSpec) ([]byte, error) {
	d, err := parseSrc(data)
	if err != nil {
		return nil, err
	}
	hk, hv := lookup(d.root, "hosts")
	if hv != nil {
		if _, exists := lookup(hv, h.Name); exists != nil {
			return nil, &HostExistsError{Name: h.Name, Line: exists.Line}
		}
	}
	step := d.indentStep()
	body, err := hostBody(h, step)
	if err != nil {
		return nil, err
	}
	entry, err := renderEntries(step, h.Name, body)
	if err != nil {
		return nil, fmt.Errorf("host name: %w", err)
	}
	if hk == nil {
		var hosts []string
		if hosts, err = renderEntries(step, "hosts", entry); err == nil {
			err = d.insertEntries(nil, d.root, hosts)
		}
	} else {
		err = d.insertEntries(hk, hv, entry)
	}
	if err != nil {
		return nil, err
	}
	return d.bytes(), nil
}

func hostBody(h HostSpec, step int) ([]string, error) {
	var kv []any
	add := func(k string, v any) error {
		t, err := scalarText(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		kv = append(kv, k, t)
		return nil
	}
	for _, f := range []struct {
		k string
		v string
	}{{"role", h.Role}, {"address", h.Address}, {"fleet", h.Fleet}} {
		if f.v != "" {
			if err := add(f.k, f.v); err != nil {
				return nil, err
			}
		}
	}
	var sshKV []any
	for _, f := range []struct {
		k string
		v any
	}{{"user", h.User}, {"port", h.Port}, {"key", h.Key}, {"jump", h.Jump}} {
		if f.v == "" || f.v == 0 {
			continue
		}
		t, err := scalarText(f.v)
		if err != nil {
			return nil, err
		}
		sshKV = append(sshKV, f.k, t)
	}
	if len(sshKV) > 0 {
		ssh, err := renderEntries(step, sshKV...)
		if err != nil {
			return nil, err
		}
		kv = append(kv, "ssh", ssh)
	}
	if len(h.Tags) > 0 {
		var tagKV []any
		for _, k := range sortedKeys(h.Tags) {
			t, err := scalarText(h.Tags[k])
			if err != nil {
				return nil, err
			}
			tagKV = append(tagKV, k, t)
		}
		tags, err := renderEntries(step, tagKV...)
		if err != nil {
			return nil, fmt.Errorf("tag: %w", err)
		}
		kv = append(kv, "tags", tags)
	}
	return renderEntries(step, kv...)
}

// RemoveHost returns data without host name.
func RemoveHost(data []byte, name string) ([]byte, error) {
	d, err := parseSrc(data)
	if err != nil {
		return nil, err
	}
	_, hv := lookup(d.root, "hosts")
	k, _ := lookup(hv, name)
	if k == nil {
		return nil, fmt.Errorf("no host %q in cl.yaml (see `cl host list`)", name)
	}
	if hv.Style&yaml.FlowStyle != 0 {
		return nil, fmt.Errorf("line %d: hosts is written in flow style {...}; rewrite it as an indented block so cl can edit it", hv.Line)
	}
	d.removeEntry(k)
	return d.bytes(), nil
}

// UpdateHost returns data with host h's given fields changed.
func UpdateHost(data []byte, h HostSpec) ([]byte, error) {
	type change struct {
		path []string
		val  any
	}
	var changes []change
	for _, f := range []struct {
		path []string
		v    any
	}{
		{[]string{"role"}, h.Role}, {[]string{"address"}, h.Address},
		{[]string{"ssh", "user"}, h.User}, {[]string{"ssh", "port"}, h.Port},
		{[]string{"ssh", "key"}, h.Key}, {[]string{"ssh", "jump"}, h.Jump},
	} {
		if f.v != "" && f.v != 0 {
			changes = append(changes, change{f.path, f.v})
		}
	}
	for _, k := range sortedKeys(h.Tags) {
		changes = append(changes, change{[]string{"tags", k}, h.Tags[k]})
	}
	if len(changes) == 0 && len(h.RemoveTags) == 0 {
		return nil, errors.New("nothing to change: give --role, --address, --user, --port, --ssh-key, --jump, --tag or --untag")
	}
	for _, c := range changes {
		var err error
		if data, err = setHostField(data, h.Name, c.path, c.val); err != nil {
			return nil, err
		}
	}
	rm := append([]string{}, h.RemoveTags...)
	sort.Strings(rm)
	for _, t := range rm {
		var err error
		if data, err = removeHostTag(data, h.Name, t); err != nil {
			return nil, err
		}
	}
	return data, nil
}

func findHost(d *srcDoc, name string) (k, v *yaml.Node, err error) {
	_, hv := lookup(d.root, "hosts")
	k, v = lookup(hv, name)
	if k == nil {
		return nil, nil, fmt.Errorf("no host %q in cl.yaml (see `cl host list`)", name)
	}
	return k, v, nil
}

// setHostField sets hosts.<name>.<path...> to val, creating the
// intermediate mapping (ssh:, tags:) when missing.
func setHostField(data []byte, name string, path []string, val any) ([]byte, error) {
	d, err := parseSrc(data)
	if err != nil {
		return nil, err
	}
	hk, hv, err := findHost(d, name)
	if err != nil {
		return nil, err
	}
	text, err := scalarText(val)
	if err != nil {
		return nil, err
	}
	if len(path) == 1 {
		err = d.setKey(hk, hv, path[0], text)
	} else {
		pk, pv := lookup(hv, path[0])
		if pk == nil {
			var inner, entries []string
			if inner, err = renderEntries(0, path[1], text); err == nil {
				if entries, err = renderEntries(d.indentStep(), path[0], inner); err == nil {
					err = d.insertEntries(hk, hv, entries)
				}
			}
		} else {
			err = d.setKey(pk, pv, path[1], text)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("set hosts.%s.%s: %w", name, joinPath(path), err)
	}
	return d.bytes(), nil
}

func removeHostTag(data []byte, name, tag string) ([]byte, error) {
	d, err := parseSrc(data)
	if err != nil {
		return nil, err
	}
	_, hv, err := findHost(d, name)
	if err != nil {
		return nil, err
	}
	_, tv := lookup(hv, "tags")
	k, _ := lookup(tv, tag)
	if k == nil {
		return nil, fmt.Errorf("host %s has no tag %q", name, tag)
	}
	if tv.Style&yaml.FlowStyle != 0 {
		return nil, fmt.Errorf("line %d: tags of %s are in flow style {...}; rewrite them as a block so cl can edit them", tv.Line, name)
	}
	d.removeEntry(k)
	return d.bytes(), nil
}

func joinPath(p []string) string {
	out := ""
	for i, s := range p {
		if i > 0 {
			out += "."
		}
		out += s
	}
	return out
}

// EditResult reports what an edit of cl.yaml did.
type EditResult struct {
	Path         string      `json:"path"`
	Committed    string      `json:"committed,omitempty"` // commit hash, when committed
	Warnings     Diagnostics `json:"warnings,omitempty"`
	NotCommitted string      `json:"not_committed,omitempty"` // why the edit was not committed
}

// CommitFunc commits cl.yaml at path after an edit; it runs under the
// registry lock. It returns the commit's hash, or why nothing was
// committed. Package sync's CommitFile, with the message bound, fits.
type CommitFunc func(ctx context.Context, path string) (hash, notCommitted string, err error)

// ApplyEdit runs edit on cl.yaml's bytes, validates the result (with the
// overlay and tasks/ as they are), writes it atomically and, when commit
// is not nil, commits it. An edit that makes the configuration invalid is
// refused and nothing is written.
//
// Reading, editing, validating, writing and committing happen under the
// registry lock (LockFile), so concurrent edits by several cl processes
// are applied one after the other, each to the file the previous one
// wrote, each in its own commit. An edit that fails only because another
// cl changed the file meanwhile (two adds of one name) says so.
func ApplyEdit(ctx context.Context, opts Options, edit func([]byte) ([]byte, error), commit CommitFunc) (*EditResult, error) {
	// Editing the file as it is before waiting for the lock fails fast on
	// a plain mistake and tells the edits refused because of a change
	// made meanwhile.
	before, err := readConfigFile(opts.Path)
	if err != nil {
		return nil, err
	}
	if _, err := edit(before); err != nil {
		return nil, err
	}
	unlock, err := LockFile(ctx, opts.Path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	data, err := readConfigFile(opts.Path)
	if err != nil {
		return nil, err
	}
	if _, diags, err := Load(Options{Path: opts.Path, Env: opts.Env, Content: data}); err != nil {
		return nil, err
	} else if diags.HasErrors() {
		return nil, fmt.Errorf("%s is invalid before the edit; fix it first:\n%w", opts.Path, diags.Errors())
	}
	out, err := edit(data)
	if err != nil {
		if !bytes.Equal(data, before) {
			return nil, changedMeanwhile(opts.Path, err)
		}
		return nil, err
	}
	_, diags, err := Load(Options{Path: opts.Path, Env: opts.Env, Content: out})
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, fmt.Errorf("refusing the change, it would make %s invalid (file left untouched):\n%w", opts.Path, diags.Errors())
	}
	if err := WriteFileAtomic(opts.Path, out, 0o644); err != nil {
		return nil, err
	}
	res := &EditResult{Path: opts.Path, Warnings: diags.Warnings()}
	if commit != nil {
		if res.Committed, res.NotCommitted, err = commit(ctx, opts.Path); err != nil {
			return res, fmt.Errorf("%s was updated but not committed: %w", opts.Path, err)
		}
	}
	return res, nil
}

// changedMeanwhile marks err, an edit's error that appeared only after
// another cl changed path, as such.
func changedMeanwhile(path string, err error) error {
	var exists *HostExistsError
	if errors.As(err, &exists) {
		exists.Meanwhile = true
		return err
	}
	return fmt.Errorf("%w (%s was changed meanwhile by another cl)", err, path)
}

// readConfigFile reads cl.yaml, saying how to create a missing one.
func readConfigFile(path string) ([]byte, error) {
	data, err := readFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: create one with `cl config init`", path, ErrNotFound)
	}
	return data, err
}
