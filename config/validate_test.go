package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestBaseIsValid(t *testing.T) {
	cfg, diags := load(t, base, nil)
	if len(diags) != 0 {
		t.Fatalf("base config has diagnostics:\n%v", diags)
	}
	if cfg.Hosts.Len() != 2 || cfg.Workers.Len() != 2 || cfg.Modules.Len() != 2 {
		t.Fatalf("unexpected counts: %d hosts %d workers %d modules", cfg.Hosts.Len(), cfg.Workers.Len(), cfg.Modules.Len())
	}
}

// replace returns base with old replaced by new (which must occur once).
func replace(t *testing.T, old, new string) string {
	t.Helper()
	if strings.Count(base, old) != 1 {
		t.Fatalf("fixture: %q occurs %d times in base", old, strings.Count(base, old))
	}
	return strings.Replace(base, old, new, 1)
}

// TestValidationRules has one case per rule: the error (or warning), where
// it points, and that it says how to fix it.
func TestValidationRules(t *testing.T) {
	cases := []struct {
		rule     string
		old, new string
		severity Severity
		pos      string // line:col
		want     string // substring of the message
		hint     string // substring of the hint
	}{
		{"unknown key with suggestion", "    address: 10.0.0.1\n", "    adress: 10.0.0.1\n", SeverityError, "6:5", `unknown key "adress" in hosts.web1`, `did you mean "address"?`},
		{"unknown top-level key", "cluster:\n", "clustr:\n", SeverityError, "1:1", `unknown key "clustr" in the top level`, `did you mean "cluster"?`},
		{"wrong type: string expected", "  name: test\n", "  name: [a, b]\n", SeverityError, "2:9", "expected a string, got a list", "write"},
		{"wrong type: int expected", "    queue: web_q\n", "    queue: web_q\n    concurrency: lots\n", SeverityError, "15:18", `expected a whole number, got the string "lots"`, "number"},
		{"wrong type: bool expected", "    task: hello\n", "    task: hello\n    enabled: yes\n", SeverityError, "23:14", `expected true or false, got the string "yes"`, "true or false"},
		{"wrong type: quoted number as string field", "  name: test\n", "  name: 1.0\n", SeverityError, "2:9", "expected a string, got the number 1.0", `"1.0"`},
		{"duplicate key", "    role: web\n    address: 10.0.0.1\n", "    role: web\n    role: db\n    address: 10.0.0.1\n", SeverityError, "6:5", `duplicate key "role"`, "line 5"},
		{"invalid cron", `cron: "0 2 * * *"`, `cron: "0 25 * * *"`, SeverityError, "21:11", `invalid cron expression "0 25 * * *"`, "five fields"},
		{"host role undefined", "    role: db\n", "    role: dbs\n", SeverityError, "9:11", `unknown role "dbs"`, `did you mean "db"?`},
		{"host without role", "    role: db\n", "", SeverityError, "8:3", "host db1 has no role", "add role:"},
		{"schedule target role undefined", "      - role: web\n", "      - role: webs\n", SeverityError, "24:15", `unknown role "webs"`, "workers:"},
		{"schedule target host undefined", "      - role: web\n", "      - host: web9\n", SeverityError, "24:9", `unknown host "web9"`, "hosts:"},
		{"schedule target with two selectors", "      - role: web\n", "      - role: web\n        host: web1\n", SeverityError, "24:9", "exactly one of role, tags, host, hosts", "one of"},
		{"schedule tag selector matches nothing (warning)", "      - role: web\n", "      - tags: {env: staging}\n", SeverityWarning, "24:15", "matches no host", "tag a host"},
		{"schedule without targets", "    targets:\n      - role: web\n", "", SeverityError, "20:3", "has no targets", "targets:"},
		{"schedule task not loaded by a targeted role", "      - role: web\n", "      - role: web\n      - role: db\n", SeverityError, "22:11", `role db cannot run task "hello"`, "workers.db.tasks"},
		{"schedule task unknown", "    task: hello\n", "    task: helo\n", SeverityError, "22:11", `no task "helo"`, "workers.web.tasks"},
		{"schedule params unknown", "    task: hello\n", "    task: hello\n    params: {count: 3}\n", SeverityError, "23:21", `has no param "count"`, "webmod.yaml"},
		{"schedule params wrong type", "    task: hello\n", "    task: hello\n    params: {n: many}\n", SeverityError, "23:17", `"many" is not a whole number`, ""},
		{"schedule params pattern", "    task: hello\n", "    task: hello\n    params: {name: \"Bob; rm -rf /\"}\n", SeverityError, "23:20", "does not match the pattern", ""},
		{"schedule required param missing", "    task: hello\n    targets:\n      - role: web\n", "    task: backup\n    targets:\n      - role: db\n", SeverityError, "22:11", `needs param "dest"`, ""},
		{"schedule timezone unknown", "    task: hello\n", "    task: hello\n    timezone: Mars/Olympus\n", SeverityError, "23:15", `unknown timezone "Mars/Olympus"`, "IANA"},
		{"schedule catchup enum", "    task: hello\n", "    task: hello\n    catchup: all\n", SeverityError, "23:14", `"all" is not allowed`, "none, once"},
		{"worker module missing", "    tasks: [dbmod]\n", "    tasks: [dbmod, mysql]\n", SeverityError, "18:20", `task module "mysql" does not exist`, "tasks/mysql.yaml"},
		{"duplicate host name", "  db1:\n", "  web1:\n", SeverityError, "8:3", `duplicate name "web1"`, "line 4"},
		{"duplicate host address", "    address: 10.0.0.2\n", "    address: 10.0.0.1\n", SeverityError, "10:14", "address 10.0.0.1:22 is also used by host web1", "own address"},
		{"invalid address", "    address: 10.0.0.2\n", "    address: \"10.0.0.2; rm\"\n", SeverityError, "10:14", "not a valid IP address or host name", ""},
		{"port out of range", "    address: 10.0.0.2\n", "    address: 10.0.0.2\n    ssh: {port: 70000}\n", SeverityError, "11:17", "port 70000 is out of range", "1 and 65535"},
		{"default port out of range", "cluster:\n", "ssh:\n  default_port: 0\ncluster:\n", SeverityError, "2:17", "port 0 is out of range", ""},
		{"duration does not parse", "cluster:\n", "ssh:\n  timeout: soon\ncluster:\n", SeverityError, "2:12", `"soon" is not a duration`, "30s"},
		{"url does not parse", "cluster:\n", "deployment:\n  health_check_url: \"localhost 8000\"\ncluster:\n", SeverityError, "2:21", "is not a valid URL", ""},
		{"redis url scheme", "cluster:\n", "redis:\n  url: http://redis:6379\ncluster:\n", SeverityError, "2:8", `URL scheme "http" is not supported`, "rediss:// for TLS"},
		{"redis url database", "cluster:\n", "redis:\n  url: redis://redis:6379/99\ncluster:\n", SeverityError, "2:8", "not a number from 0 to 15", ""},
		{"queue names unique", "    queue: db_q\n", "    queue: web_q\n", SeverityError, "17:12", `queue "web_q" is also used by role web`, "own queue"},
		{"host key policy enum", "cluster:\n", "ssh:\n  host_key_policy: yolo\ncluster:\n", SeverityError, "2:20", `"yolo" is not allowed`, "strict, accept-new"},
		{"keep_releases at least 1", "cluster:\n", "deployment:\n  keep_releases: 0\ncluster:\n", SeverityError, "2:18", "keep_releases must be at least 1", ""},
		{"deployment batch", "cluster:\n", "deployment:\n  batch: half\ncluster:\n", SeverityError, "2:10", `batch "half"`, "25%"},
		{"alert channel email", "cluster:\n", "monitoring:\n  alert_channels:\n    - email: not-an-address\ncluster:\n", SeverityError, "3:14", "is not an email address", ""},
		{"smtp password in clear", "cluster:\n", "monitoring:\n  smtp: {address: \"m:25\", password: hunter2}\ncluster:\n", SeverityError, "2:37", "the SMTP password itself must not be in cl.yaml", "${secret:smtp#password}"},
		{"smtp password reference and env", "cluster:\n", "monitoring:\n  smtp: {address: \"m:25\", password: \"${secret:smtp}\", password_env: PW}\ncluster:\n", SeverityError, "2:37", "password and password_env are both set", "keep one"},
		{"metric name", "cluster:\n", "monitoring:\n  metrics:\n    - name: queue_sise\n      threshold: 5\ncluster:\n", SeverityError, "3:13", `"queue_sise" is not allowed`, `did you mean "queue_size"?`},
		{"secrets provider", "cluster:\n", "secrets:\n  provider: keepass\ncluster:\n", SeverityError, "2:13", `"keepass" is not allowed`, "vault"},
		{"host name syntax", "  db1:\n", "  \"db 1\":\n", SeverityError, "8:3", `host name "db 1" is not valid`, ""},
		{"jump host syntax", "    address: 10.0.0.2\n", "    address: 10.0.0.2\n    ssh: {jump: \"bastion:99999\"}\n", SeverityError, "11:17", "invalid port", "[user@]host[:port]"},
		{"jump host with two @ and two ports", "    address: 10.0.0.2\n", "    address: 10.0.0.2\n    ssh: {jump: \"a@b@c:1:2\"}\n", SeverityError, "11:17", "invalid user", "[user@]host[:port]"},
		{"jump host with two ports", "    address: 10.0.0.2\n", "    address: 10.0.0.2\n    ssh: {jump: \"b:1:2\"}\n", SeverityError, "11:17", "is not host or host:port", "[user@]host[:port]"},
		{"jump host shell characters", "cluster:\n", "ssh:\n  jump_host: \"u@$(reboot)\"\ncluster:\n", SeverityError, "2:14", "no valid host", "[user@]host[:port]"},
		{"cron that never fires", `cron: "0 2 * * *"`, `cron: "0 0 30 2 *"`, SeverityError, "21:11", `cron expression "0 0 30 2 *" never fires`, "February"},
		{"cron that never fires (31 April)", `cron: "0 2 * * *"`, `cron: "0 0 31 4 *"`, SeverityError, "21:11", "never fires", ""},
		{"backup cron that never fires", "cluster:\n", "redis:\n  backup: {enabled: true, schedule: \"0 0 30 2 *\"}\ncluster:\n", SeverityError, "2:37", "never fires", ""},
		{"target_directory not absolute", "cluster:\n", "deployment:\n  target_directory: opt/cl\ncluster:\n", SeverityError, "2:21", "must be an absolute path", "/opt/celeroot"},
		{"target_directory with ..", "cluster:\n", "deployment:\n  target_directory: /opt/../etc\ncluster:\n", SeverityError, "2:21", "must not contain . or ..", ""},
		{"target_directory with a newline", "cluster:\n", "deployment:\n  target_directory: \"/opt/cl\\nExecStartPre=/bin/sh\"\ncluster:\n", SeverityError, "2:21", "must be an absolute path", ""},
		{"target_directory with $(", "cluster:\n", "deployment:\n  target_directory: \"/opt/$(reboot)\"\ncluster:\n", SeverityError, "2:21", "must be an absolute path", ""},
		{"target_directory with a backtick", "cluster:\n", "deployment:\n  target_directory: \"/opt/`id`\"\ncluster:\n", SeverityError, "2:21", "must be an absolute path", ""},
		{"target_directory with ;", "cluster:\n", "deployment:\n  target_directory: \"/opt/a;b\"\ncluster:\n", SeverityError, "2:21", "must be an absolute path", ""},
		{"target_directory with a quote", "cluster:\n", "deployment:\n  target_directory: \"/opt/a'b\"\ncluster:\n", SeverityError, "2:21", "must be an absolute path", ""},
		{"target_directory with an escape", "cluster:\n", "deployment:\n  target_directory: \"/opt/a\\x1b[2Jb\"\ncluster:\n", SeverityError, "2:21", "must be an absolute path", ""},
		{"target_directory with %", "cluster:\n", "deployment:\n  target_directory: \"/opt/%h\"\ncluster:\n", SeverityError, "2:21", "must be an absolute path", ""},
		{"target_directory with a trailing slash", "cluster:\n", "deployment:\n  target_directory: /opt/cl/\ncluster:\n", SeverityError, "2:21", "must be an absolute path", ""},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			_, diags := load(t, replace(t, c.old, c.new), nil)
			var got *Diagnostic
			for i := range diags {
				if strings.Contains(diags[i].Message, c.want) {
					got = &diags[i]
				}
			}
			if got == nil {
				t.Fatalf("no diagnostic containing %q; got:\n%v", c.want, diags)
			}
			if got.Severity != c.severity {
				t.Errorf("severity %s, want %s", got.Severity, c.severity)
			}
			if pos := fmt.Sprintf("%d:%d", got.Line, got.Col); pos != c.pos {
				t.Errorf("position %s, want %s (%s)", pos, c.pos, got)
			}
			if !strings.Contains(got.Hint, c.hint) {
				t.Errorf("hint %q does not contain %q", got.Hint, c.hint)
			}
			if c.severity == SeverityWarning && diags.HasErrors() {
				t.Errorf("a warning case produced errors:\n%v", diags.Errors())
			}
		})
	}
}

func TestAllErrorsReportedSorted(t *testing.T) {
	src := replace(t, "    role: db\n", "    role: nope\n    colour: red\n")
	src = strings.Replace(src, "  name: test\n", "  name: [x]\n", 1)
	_, diags := load(t, src, nil)
	if len(diags.Errors()) < 3 {
		t.Fatalf("want at least 3 errors, got:\n%v", diags)
	}
	for i := 1; i < len(diags); i++ {
		a, b := diags[i-1], diags[i]
		if a.Line > b.Line || (a.Line == b.Line && a.Col > b.Col) {
			t.Fatalf("not sorted by position:\n%v", diags)
		}
	}
}

func TestTaskModuleRules(t *testing.T) {
	cases := []struct {
		name, module, want string
	}{
		{"neither command nor script", "tasks:\n  t1:\n    timeout: 1m\n", "has neither command nor script"},
		{"both command and script", "tasks:\n  t1:\n    command: [/bin/true]\n    script: m/x.sh\n", "has both command and script"},
		{"script escapes tasks dir", "tasks:\n  t1:\n    script: ../evil.sh\n", "must stay inside tasks/"},
		{"script missing", "tasks:\n  t1:\n    script: m/missing.sh\n", "does not exist"},
		{"bad param type", "tasks:\n  t1:\n    command: [/bin/true]\n    params:\n      x: {type: float}\n", `param type "float" is not supported`},
		{"bad pattern", "tasks:\n  t1:\n    command: [/bin/true]\n    params:\n      x: {type: string, pattern: '('}\n", "pattern does not compile"},
		{"default violates type", "tasks:\n  t1:\n    command: [/bin/true]\n    params:\n      x: {type: int, default: ten}\n", "is not a whole number"},
		{"reserved name", "tasks:\n  ping:\n    command: [/bin/true]\n", "reserved for the built-in task"},
		{"unknown task key", "tasks:\n  t1:\n    comand: [/bin/true]\n", `did you mean "command"?`},
		{"bad env name", "tasks:\n  t1:\n    command: [/bin/true]\n    env: {CL_X: y}\n", `env name "CL_X" is not allowed`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"m.yaml": c.module}
			_, diags := load(t, "workers:\n  r:\n    tasks: [m]\n", files)
			if !strings.Contains(diags.Error(), c.want) {
				t.Fatalf("want %q in:\n%v", c.want, diags)
			}
			for _, d := range diags.Errors() {
				if !strings.HasSuffix(d.File, "tasks/m.yaml") {
					t.Errorf("diagnostic does not point into the module file: %s", d)
				}
			}
		})
	}
}

func TestScriptMustBeExecutable(t *testing.T) {
	files := map[string]string{"m.yaml": "tasks:\n  t1:\n    script: m/run.sh\n", "tasks/m/run.sh": "#!/bin/sh\n"}
	_, diags := load(t, "workers:\n  r:\n    tasks: [m]\n", files)
	if len(diags) != 0 {
		t.Fatalf("executable script rejected: %v", diags)
	}
}

func TestBuiltinTasksSchedulable(t *testing.T) {
	src := replace(t, "    task: hello\n", "    task: install\n    params: {package: nginx}\n")
	if _, diags := load(t, src, nil); diags.HasErrors() {
		t.Fatalf("builtin task rejected: %v", diags)
	}
	src = replace(t, "    task: hello\n", "    task: install\n    params: {package: \"nginx; rm -rf /\"}\n")
	if _, diags := load(t, src, nil); !strings.Contains(diags.Error(), "does not match the pattern") {
		t.Fatalf("hostile package name accepted: %v", diags)
	}
}

func TestQualifiedAndAmbiguousTaskNames(t *testing.T) {
	files := map[string]string{
		"a.yaml": "tasks:\n  go:\n    command: [/bin/true]\n",
		"b.yaml": "tasks:\n  go:\n    command: [/bin/true]\n",
	}
	src := "hosts:\n  h: {role: r}\nworkers:\n  r:\n    tasks: [a, b]\nschedules:\n  s:\n    cron: '@daily'\n    task: %s\n    targets: [{role: r}]\n"
	if _, diags := load(t, fmt.Sprintf(src, "go"), files); !strings.Contains(diags.Error(), "ambiguous") {
		t.Fatalf("want ambiguity error, got %v", diags)
	}
	if _, diags := load(t, fmt.Sprintf(src, "b.go"), files); diags.HasErrors() {
		t.Fatalf("qualified name rejected: %v", diags)
	}
}

// TestAcceptedShapes: what the stricter checks must still accept.
// TestSecretReferencesInMonitoringAndParams: references are accepted where
// a URL, an SMTP password or a pattern-checked param is expected (their
// values are checked once resolved).
func TestSecretReferencesInMonitoringAndParams(t *testing.T) {
	text := replace(t, "cluster:\n", "monitoring:\n  slack_webhook_url: \"${secret:slack#url}\"\n  smtp: {address: \"m:25\", password: \"${secret:smtp#pw}\"}\n"+
		"  alert_channels:\n    - webhook: \"${secret:hook}\"\n    - slack: \"${secret:slack#url2}\"\ncluster:\n")
	text = strings.Replace(text, "    task: hello\n", "    task: hello\n    params: {name: \"${secret:names#bob}\"}\n", 1)
	if _, ds := load(t, text, nil); ds.HasErrors() {
		t.Errorf("references refused: %v", ds.Errors())
	}
}

func TestAcceptedShapes(t *testing.T) {
	for _, p := range []string{"/opt/celeroot", "/srv/cl-2.0/fleet_a", "/home/deploy@corp/cl", "/a", "/opt/x+y,z:1"} {
		if err := CheckTargetDirectory(p); err != nil {
			t.Errorf("CheckTargetDirectory(%q): %v", p, err)
		}
	}
	for _, j := range []string{"bastion", "bastion:2222", "ops@bastion.example.com", "ops@10.0.0.1:22", "[::1]:22", "::1", "ops@[2001:db8::1]:2222", "deploy_user@b-1"} {
		if err := checkJump(j); err != nil {
			t.Errorf("checkJump(%q): %v", j, err)
		}
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range []string{"0 0 29 2 *", "0 2 * * *", "@yearly", "0 0 L 2 *", "*/5 * * * * *", "0 0 31 * *"} {
		if !cronFires(e, now) {
			t.Errorf("cronFires(%q) = false", e)
		}
	}
	for _, e := range []string{"0 0 30 2 *", "0 0 31 2,4,6,9,11 *", "0 0 1 1 * 2020"} {
		if cronFires(e, now) {
			t.Errorf("cronFires(%q) = true", e)
		}
	}
}
