package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// keyPaths lists every key of t as documented: maps of names as <name>,
// lists of objects as [].
func keyPaths(t reflect.Type, prefix string, name string) []string {
	var out []string
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if m, ok := reflect.New(t).Interface().(mapDecodable); ok {
		return keyPaths(m.elemType(), prefix+".<"+name+">", name)
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		return keyPaths(t.Elem(), prefix+"[]", name)
	}
	if t.Kind() != reflect.Struct || t == durationType {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		p := strings.TrimPrefix(prefix+"."+tag, ".")
		sub := "name"
		if tag == "params" {
			sub = "param"
		}
		nested := keyPaths(t.Field(i).Type, p, sub)
		if len(nested) == 0 { // a leaf; sections are documented by their keys
			out = append(out, p)
		}
		out = append(out, nested...)
	}
	return out
}

func TestEveryKeyDocumented(t *testing.T) {
	for _, c := range []struct {
		doc    string
		typ    reflect.Type
		prefix string
	}{
		{"../docs/config.md", reflect.TypeFor[Config](), ""},
		{"../docs/tasks.md", reflect.TypeFor[Task](), "tasks.<name>"},
	} {
		doc, err := os.ReadFile(c.doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range keyPaths(c.typ, c.prefix, "name") {
			if !strings.Contains(string(doc), "`"+p+"`") {
				t.Errorf("%s does not document `%s`", c.doc, p)
			}
		}
	}
}

func TestDefaultsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{DefaultRedisURL, DefaultBackupSchedule, DefaultBackupDirectory, DefaultKnownHosts, DefaultHostKeyPolicy,
		DefaultKeyRotationSchedule, DefaultTargetDirectory, DefaultServiceName, DefaultHealthCheckURL, DefaultStrategy, DefaultTimezone, DefaultCatchup, string(DefaultScheduleConcurrency)} {
		if !strings.Contains(string(doc), "`"+v+"`") {
			t.Errorf("docs/config.md does not state the default `%s`", v)
		}
	}
}
