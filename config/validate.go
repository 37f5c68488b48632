package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/adhocore/gronx"
)

var (
	nameRE   = lazyRegexp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	envVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	batchRE  = regexp.MustCompile(`^[1-9][0-9]*%?$`)
	unitRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9@._-]*$`)
	// jumpUserRE is a login name for a jump host (as ssh -J takes it).
	jumpUserRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*\$?$`)
	hostnameR  = lazyRegexp(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$`)
)

// Known enumerations, also listed in docs/config.md.
var (
	HostKeyPolicies     = []string{"strict", "accept-new"}
	BecomeMethods       = []string{"", "sudo"}
	Strategies          = []string{"all", "rolling", "canary"}
	CatchupModes        = []string{"none", "once"}
	ConcurrencyPolicies = []string{string(ConcurrencyAllow), string(ConcurrencyForbid)}
	SecretsProviders    = []string{"vault", "aws-secrets", "azure-kv", "env", "file", "age"}
	MetricNames         = []string{"task_execution_time", "queue_size", "task_failure_rate", "worker_count", "host_unreachable", "deploy_duration"}
	ParamTypes          = []string{ParamString, ParamInt, ParamBool}
	Connections         = []string{"", "auto", "ssh", "local"}
)

// at returns the position of the value at path, or of its nearest ancestor.
func (c *Config) at(path string) Pos {
	for p := path; p != ""; {
		if pos, ok := c.positions[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return Pos{File: c.Source.Path}
}

// atKey returns the position of the key at path (falls back to at).
func (c *Config) atKey(path string) Pos {
	if pos, ok := c.keyPos[path]; ok {
		return pos
	}
	return c.at(path)
}

// Position returns where the value at a dotted path (e.g. hosts.web1.role)
// was written.
func (c *Config) Position(path string) Pos { return c.at(path) }

type checker struct {
	c     *Config
	diags *Diagnostics
}

func (k checker) err(path, hint, format string, args ...any) {
	*k.diags = append(*k.diags, Diagnostic{Pos: k.c.at(path), Severity: SeverityError, Path: path, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (k checker) errKey(path, hint, format string, args ...any) {
	*k.diags = append(*k.diags, Diagnostic{Pos: k.c.atKey(path), Severity: SeverityError, Path: path, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (k checker) warn(path, hint, format string, args ...any) {
	*k.diags = append(*k.diags, Diagnostic{Pos: k.c.at(path), Severity: SeverityWarning, Path: path, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (k checker) oneOf(path, v string, allowed []string) {
	if contains(allowed, v) {
		return
	}
	shown := make([]string, 0, len(allowed))
	for _, a := range allowed {
		if a != "" {
			shown = append(shown, a)
		}
	}
	hint := "use one of: " + strings.Join(shown, ", ")
	if s := didYouMean(v, shown); s != "" {
		hint = fmt.Sprintf("did you mean %q? allowed: %s", s, strings.Join(shown, ", "))
	}
	k.err(path, hint, "%q is not allowed", v)
}

func (k checker) cron(path, expr string) {
	if strings.TrimSpace(expr) == "" {
		k.err(path, `write five fields, e.g. "0 2 * * *" (02:00 daily), or @daily`, "cron expression is empty")
		return
	}
	if !gronx.IsValid(expr) {
		k.err(path, `use five fields "min hour day month weekday" (optionally a leading seconds field) or @hourly/@daily/@weekly/@monthly/@yearly`, "invalid cron expression %q", expr)
		return
	}
	if !cronFires(expr, time.Now()) {
		k.err(path, "check the day and month fields (February has no 30th; use L for the last day of a month)", "cron expression %q never fires: no time matches within %d years", expr, cronHorizonYears)
	}
}

// cronHorizonYears is how far ahead cronFires looks: far enough for a
// leap day (every 4 years), near enough to be quick.
const cronHorizonYears = 5

// cronFires reports whether the valid cron expression expr matches a time
// within cronHorizonYears after now (0 0 30 2 * never does).
func cronFires(expr string, now time.Time) bool {
	next, err := gronx.NextTickAfter(expr, now.UTC(), false)
	return err == nil && next.Before(now.AddDate(cronHorizonYears, 0, 0))
}

func (k checker) port(path string, p int, present bool) {
	if present && (p < 1 || p > 65535) {
		k.err(path, "use a TCP port between 1 and 65535", "port %d is out of range", p)
	}
}

func (k checker) url(path, raw string, schemes ...string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		k.err(path, fmt.Sprintf("write a full URL such as %s://host:port/...", schemes[0]), "%q is not a valid URL", MaskURL(raw))
		return nil
	}
	if !contains(schemes, u.Scheme) {
		k.err(path, "use a "+strings.Join(schemes, " or ")+" URL", "URL scheme %q is not supported", u.Scheme)
		return nil
	}
	return u
}

func (k checker) positive(path string, v int, what string) {
	if k.c.setPaths[path] && v < 1 {
		k.err(path, "use a whole number of at least 1", "%s must be at least 1, got %d", what, v)
	}
}

func (k checker) name(path, v, what string) {
	if !nameRE().MatchString(v) {
		k.errKey(path, "use letters, digits, '.', '_' and '-' (at most 63, starting with a letter or digit)", "%s name %q is not valid", what, v)
	}
}

// validate applies the cross-field rules; decoding has already checked keys
// and types.
func (c *Config) validate(diags *Diagnostics) {
	k := checker{c, diags}
	k.name("cluster.name", c.Cluster.Name, "cluster")
	c.validateRedis(k)
	c.validateSSH(k)
	c.validateWorkers(k)
	c.validateHosts(k)
	c.validateDeployment(k)
	c.validateSchedules(k)
	c.validateMonitoring(k)
	c.validateSecrets(k)
	if c.Audit.CheckpointEvery < 0 {
		k.err("audit.checkpoint_every", "use 1 (a checkpoint after every record) or more", "checkpoint_every cannot be negative")
	}
}

// RedisSchemes are the URL schemes redis.url accepts: one server, a
// Sentinel-managed master, or a Redis Cluster, each plain or over TLS.
var RedisSchemes = []string{"redis", "rediss", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster"}

func (c *Config) validateRedis(k checker) {
	r := c.Redis
	checkRedisURL(k, "redis.url", r.URL)
	if k.c.setPaths["redis.task_ttl"] && r.TaskTTL.D() < time.Minute {
		k.err("redis.task_ttl", "keep task records at least 1m (default 24h)", "task_ttl %s is too short", r.TaskTTL)
	}
	c.validateWait(k)
	if r.LogBudget < MinLogBudget {
		k.err("redis.log_budget", "keep at least 64KiB of output per run (default 4MiB)", "log_budget %s is too small", r.LogBudget)
	}
	if r.Backup.Enabled || k.c.setPaths["redis.backup.schedule"] {
		k.cron("redis.backup.schedule", r.Backup.Schedule)
	}
	k.positive("redis.backup.keep", r.Backup.Keep, "keep")
}

// checkRedisURL checks the parts of a Redis URL that can be checked without
// connecting; the queue package parses its options.
func checkRedisURL(k checker, path, raw string) {
	const hint = "write redis://host:6379/0 (rediss:// for TLS; redis-sentinel://h1,h2/0?master=NAME or redis-cluster://h1,h2 for Sentinel and Cluster)"
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" {
		k.err(path, hint, "%q is not a valid URL", MaskURL(raw))
		return
	}
	if !contains(RedisSchemes, scheme) {
		k.err(path, hint, "URL scheme %q is not supported", scheme)
		return
	}
	// The user info ends at the last '@', as queue.ParseURL reads it: a
	// password with '#', '/' or '?' in it must not be read as host or port
	// (nor quoted in a message).
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	hosts, db, _ := strings.Cut(rest, "/")
	if hosts == "" {
		k.err(path, hint, "URL has no host")
		return
	}
	for _, hp := range strings.Split(hosts, ",") {
		if _, port, err := net.SplitHostPort(hp); err == nil {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				k.err(path, hint, "URL has an invalid port in %q", hp)
			}
		} else if hp == "" || strings.ContainsAny(hp, " /") {
			k.err(path, hint, "URL has an invalid host %q", hp)
		}
	}
	if db != "" {
		if strings.HasSuffix(scheme, "-cluster") {
			k.err(path, "remove the /database: Redis Cluster has only database 0", "Redis Cluster URLs take no database")
		} else if n, err := strconv.Atoi(db); err != nil || n < 0 || n > 15 {
			k.err(path, "end the URL with a database number 0-15, e.g. /0", "database %q in the URL is not a number from 0 to 15", db)
		}
	}
}

func (c *Config) validateSSH(k checker) {
	s := c.SSH
	k.port("ssh.default_port", s.DefaultPort, true)
	if k.c.setPaths["ssh.timeout"] && s.Timeout.D() <= 0 {
		k.err("ssh.timeout", "use a positive timeout such as 30s", "ssh timeout must be positive")
	}
	k.oneOf("ssh.host_key_policy", s.HostKeyPolicy, HostKeyPolicies)
	k.oneOf("ssh.become", s.Become, BecomeMethods)
	if s.JumpHost != "" {
		if err := checkJump(s.JumpHost); err != nil {
			k.err("ssh.jump_host", "write it as [user@]host[:port]", "%v", err)
		}
	}
	if s.KeyRotation.Enabled || k.c.setPaths["ssh.key_rotation.schedule"] {
		k.cron("ssh.key_rotation.schedule", s.KeyRotation.Schedule)
	}
	if s.KeyRotation.BackupKeys < 0 {
		k.err("ssh.key_rotation.backup_keys", "use 0 or more", "backup_keys cannot be negative")
	}
}

// checkJump validates a jump host written as [user@]host[:port] (an IPv6
// address with a port in brackets: [::1]:22).
func checkJump(j string) error {
	user, hostport, hasUser := strings.Cut(j, "@")
	if !hasUser {
		hostport = j
	}
	if hasUser && (user == "" || !jumpUserRE.MatchString(user) || strings.Contains(hostport, "@")) {
		return fmt.Errorf("jump host %q has an invalid user: want one user name before a single @", j)
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.Contains(hostport, ":") && net.ParseIP(hostport) == nil {
		return fmt.Errorf("jump host %q: %q is not host or host:port", j, hostport)
	}
	if !validAddress(host) {
		return fmt.Errorf("jump host %q has no valid host", j)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("jump host %q has an invalid port", j)
		}
	}
	return nil
}

// targetDirRE is a clean absolute path: components of letters, digits and
// . _ - + @ : , only. Nothing a shell, a systemd unit file (%, quotes,
// newlines) or a terminal would read as more than a path.
var targetDirRE = regexp.MustCompile(`^(/[A-Za-z0-9._+@:,-]+)+$`)

// CheckTargetDirectory reports whether p can be deployment.target_directory:
// a clean absolute path below / (no "..", ".", "//", trailing '/', spaces,
// control characters, quotes or shell metacharacters). The deploy package
// checks it again before writing the path into a unit file or a command.
func CheckTargetDirectory(p string) error {
	if !targetDirRE.MatchString(p) {
		return fmt.Errorf("target_directory %q must be an absolute path of letters, digits and . _ - + @ : , below /", p)
	}
	for _, c := range strings.Split(p[1:], "/") {
		if c == "." || c == ".." {
			return fmt.Errorf("target_directory %q must not contain . or .. components", p)
		}
	}
	return nil
}

func (c *Config) validateWorkers(k checker) {
	queues := map[string]string{}
	for _, w := range c.Workers.Values() {
		p := "workers." + w.Name
		k.name(p, w.Name, "role")
		if !nameRE().MatchString(w.Queue) {
			k.err(p+".queue", "use letters, digits, '.', '_' and '-'", "queue name %q is not valid", w.Queue)
		}
		if other, dup := queues[w.Queue]; dup {
			k.err(p+".queue", fmt.Sprintf("give role %s its own queue name", w.Name), "queue %q is also used by role %s", w.Queue, other)
		} else {
			queues[w.Queue] = w.Name
		}
		k.positive(p+".concurrency", w.Concurrency, "concurrency")
		if w.Concurrency > 1024 {
			k.err(p+".concurrency", "use at most 1024 slots per worker", "concurrency %d is too high", w.Concurrency)
		}
		if w.MaxTasksPerChild < 0 {
			k.err(p+".max_tasks_per_child", "use 0 (no limit) or a positive number", "max_tasks_per_child cannot be negative")
		}
		seen := map[string]bool{}
		for i, mod := range w.Tasks {
			ip := fmt.Sprintf("%s.tasks[%d]", p, i)
			if seen[mod] {
				k.err(ip, "list each module once", "module %s is listed twice", mod)
			}
			seen[mod] = true
			if mod == BuiltinModule {
				continue
			}
			if _, ok := c.Modules.Get(mod); !ok {
				hint := fmt.Sprintf("create tasks/%s.yaml or remove it from the list", mod)
				if s := didYouMean(mod, c.Modules.Keys()); s != "" {
					hint = fmt.Sprintf("did you mean %q? or create tasks/%s.yaml", s, mod)
				}
				k.err(ip, hint, "task module %q does not exist", mod)
			}
		}
	}
}

func (c *Config) validateHosts(k checker) {
	addrs := map[string]string{}
	roles := c.Workers.Keys()
	for _, h := range c.Hosts.Values() {
		p := "hosts." + h.Name
		k.name(p, h.Name, "host")
		if h.Role == "" {
			k.errKey(p, "add role: <one of "+strings.Join(roles, ", ")+">", "host %s has no role", h.Name)
		} else if _, ok := c.Workers.Get(h.Role); !ok {
			hint := "define it under workers:"
			if s := didYouMean(h.Role, roles); s != "" {
				hint = fmt.Sprintf("did you mean %q? roles are the keys of workers:", s)
			} else if len(roles) > 0 {
				hint = "define it under workers: or use one of: " + strings.Join(roles, ", ")
			}
			k.err(p+".role", hint, "unknown role %q", h.Role)
		}
		if !validAddress(h.Address) {
			k.err(p+".address", "use an IP address or a DNS name", "address %q is not a valid IP address or host name", h.Address)
		}
		k.oneOf(p+".connection", h.Connection, Connections)
		k.port(p+".ssh.port", h.SSH.Port, k.c.setPaths[p+".ssh.port"])
		if h.SSH.Jump != "" && h.SSH.Jump != "none" {
			if err := checkJump(h.SSH.Jump); err != nil {
				k.err(p+".ssh.jump", "write it as [user@]host[:port], or none", "%v", err)
			}
		}
		for tk := range h.Tags {
			if !nameRE().MatchString(tk) {
				k.errKey(p+".tags."+tk, "use letters, digits, '.', '_' and '-'", "tag name %q is not valid", tk)
			}
		}
		if h.Fleet != "" {
			k.name(p+".fleet", h.Fleet, "fleet")
		}
		cn := c.ConnFor(h)
		key := net.JoinHostPort(strings.ToLower(cn.Address), strconv.Itoa(cn.Port))
		if other, dup := addrs[key]; dup {
			k.err(p+".address", "give each host its own address (or port)", "address %s is also used by host %s", key, other)
		} else {
			addrs[key] = h.Name
		}
	}
	c.validateFleets(k)
}

func validAddress(a string) bool {
	if net.ParseIP(a) != nil {
		return true
	}
	return len(a) <= 253 && hostnameR().MatchString(a)
}

func (c *Config) validateDeployment(k checker) {
	d := c.Deployment
	if err := CheckTargetDirectory(d.TargetDirectory); err != nil {
		k.err("deployment.target_directory", "use a clean absolute directory such as /opt/celeroot (letters, digits and . _ - + @ : , between slashes)", "%v", err)
	}
	if !unitRE.MatchString(d.ServiceName) {
		k.err("deployment.service_name", "use a systemd unit name such as celeroot-worker", "service_name %q is not a valid unit name", d.ServiceName)
	}
	if d.HealthCheckURL != "" {
		k.url("deployment.health_check_url", d.HealthCheckURL, "http", "https")
	}
	if k.c.setPaths["deployment.health_timeout"] && d.HealthTimeout.D() <= 0 {
		k.err("deployment.health_timeout", "use a positive duration such as 30s", "health_timeout must be positive")
	}
	k.positive("deployment.keep_releases", d.KeepReleases, "keep_releases")
	k.oneOf("deployment.strategy", d.Strategy, Strategies)
	if !batchRE.MatchString(d.Batch) || d.Batch == "0%" || strings.HasSuffix(d.Batch, "%") && mustAtoi(strings.TrimSuffix(d.Batch, "%")) > 100 {
		k.err("deployment.batch", `write a host count such as "2" or a percentage such as "25%"`, "batch %q is not a count or a percentage", d.Batch)
	}
	if d.MaxFail < 0 {
		k.err("deployment.max_fail", "use 0 or more", "max_fail cannot be negative")
	}
	k.positive("deployment.canary", d.Canary, "canary")
	if k.c.setPaths["deployment.setup_command"] && len(d.SetupCommand) == 0 {
		k.err("deployment.setup_command", `give an argv list such as ["./bin/setup"], or remove the key`, "setup_command is empty")
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func (c *Config) validateMonitoring(k checker) {
	m := c.Monitoring
	if k.c.setPaths["monitoring.health_check_interval"] && m.HealthCheckInterval.D() < time.Second {
		k.err("monitoring.health_check_interval", "use at least 1s", "health_check_interval is too short")
	}
	for i, ch := range m.AlertChannels {
		p := fmt.Sprintf("monitoring.alert_channels[%d]", i)
		n := 0
		for _, v := range []string{ch.Email, ch.Slack, ch.Webhook} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			k.err(p, "give exactly one of email:, slack: or webhook: per list item", "alert channel must name exactly one destination")
			continue
		}
		switch {
		case ch.Email != "":
			if _, err := mail.ParseAddress(ch.Email); err != nil {
				k.err(p+".email", "write an address such as ops@example.com", "%q is not an email address", ch.Email)
			}
		case ch.Slack != "":
			if !strings.HasPrefix(ch.Slack, "#") && !strings.HasPrefix(ch.Slack, "https://") && !strings.Contains(ch.Slack, secretRefOpen) {
				k.err(p+".slack", `write a channel such as "#alerts" (quoted) or a Slack webhook URL`, "%q is not a Slack channel or webhook URL", ch.Slack)
			}
		case ch.Webhook != "" && !strings.Contains(ch.Webhook, secretRefOpen): // a reference: the URL is checked when resolved
			k.url(p+".webhook", ch.Webhook, "https", "http")
		}
	}
	if k.c.setPaths["monitoring.alert_interval"] && m.AlertInterval.D() < time.Second {
		k.err("monitoring.alert_interval", "use at least 1s", "alert_interval is too short")
	}
	if k.c.setPaths["monitoring.alert_cooldown"] && m.AlertCooldown.D() < 0 {
		k.err("monitoring.alert_cooldown", "use 0 (send every evaluation) or more", "alert_cooldown cannot be negative")
	}
	if m.SlackWebhookURL != "" && !strings.Contains(m.SlackWebhookURL, secretRefOpen) {
		k.url("monitoring.slack_webhook_url", m.SlackWebhookURL, "https", "http")
	}
	if m.SMTP.Password != "" && !strings.Contains(m.SMTP.Password, secretRefOpen) {
		k.err("monitoring.smtp.password", "write a secret reference such as \"${secret:smtp#password}\" (docs/security.md#secrets), or name a variable with password_env",
			"the SMTP password itself must not be in cl.yaml")
	}
	if m.SMTP.Password != "" && m.SMTP.PasswordEnv != "" {
		k.err("monitoring.smtp.password", "keep one of password and password_env", "password and password_env are both set")
	}
	if m.SMTP.From != "" {
		if _, err := mail.ParseAddress(m.SMTP.From); err != nil {
			k.err("monitoring.smtp.from", "write an address such as cl@example.com", "%q is not an email address", m.SMTP.From)
		}
	}
	if m.SMTP.Address != "" {
		if _, port, err := net.SplitHostPort(m.SMTP.Address); err != nil || port == "" {
			k.err("monitoring.smtp.address", "write host:port, e.g. smtp.example.com:587", "%q is not host:port", m.SMTP.Address)
		}
	}
	for i, mt := range m.Metrics {
		p := fmt.Sprintf("monitoring.metrics[%d]", i)
		k.oneOf(p+".name", mt.Name, MetricNames)
		if mt.Threshold < 0 {
			k.err(p+".threshold", "use 0 or more", "threshold cannot be negative")
		}
	}
}

func (c *Config) validateSecrets(k checker) {
	s := c.Secrets
	if s.Provider == "" {
		if s.Endpoint != "" || s.Path != "" {
			k.err("secrets", "add provider: vault (or aws-secrets, azure-kv, env, file, age)", "secrets has settings but no provider")
		}
		return
	}
	k.oneOf("secrets.provider", s.Provider, SecretsProviders)
	switch s.Provider {
	case "vault", "azure-kv":
		if s.Endpoint == "" {
			k.err("secrets.provider", "add endpoint: https://...", "provider %s needs an endpoint", s.Provider)
		}
	case "file":
		if s.Path == "" {
			k.err("secrets.provider", "add path: /etc/celeroot/secrets (one file per secret)", "provider file needs a path")
		}
	case "aws-secrets":
		if s.Region == "" {
			k.err("secrets.provider", "add region: eu-west-1 (the region of the secrets)", "provider aws-secrets needs a region")
		}
	}
	if s.Provider == "azure-kv" && (s.TenantID == "" || s.ClientID == "") {
		k.err("secrets.provider", "add tenant_id and client_id (the app registration that reads the vault)", "provider azure-kv needs tenant_id and client_id")
	}
	if s.Endpoint != "" {
		k.url("secrets.endpoint", s.Endpoint, "https", "http")
	}
	if s.Authority != "" {
		k.url("secrets.authority", s.Authority, "https", "http")
	}
	if s.Mount != "" && (strings.Contains(s.Mount, "..") || strings.HasPrefix(s.Mount, "/")) {
		k.err("secrets.mount", "name the KV v2 mount, e.g. kv", "mount %q is not a mount path", s.Mount)
	}
}

// validateTask checks one task definition of a module.
func (c *Config) validateTask(t *Task, dec *decoder, diags *Diagnostics) {
	errAt := func(path, hint, format string, args ...any) {
		pos, ok := dec.pos[path]
		if !ok {
			pos = dec.keyPos["tasks."+t.Name]
		}
		*diags = append(*diags, Diagnostic{Pos: pos, Severity: SeverityError, Path: path, Message: fmt.Sprintf(format, args...), Hint: hint})
	}
	p := "tasks." + t.Name
	if !moduleNameRE().MatchString(t.Name) {
		errAt(p, "use letters, digits and _", "task name %q is not valid", t.Name)
	}
	if _, clash := Builtins().Tasks.Get(t.Name); clash {
		errAt(p, "rename the task", "task name %q is reserved for the built-in task", t.Name)
	}
	switch {
	case len(t.Command) == 0 && t.Script == "":
		errAt(p, `add command: ["/path/to/program", "arg"] or script: <module>/<file>.sh`, "task %s has neither command nor script", t.Name)
	case len(t.Command) > 0 && t.Script != "":
		errAt(p+".script", "keep one of command and script", "task %s has both command and script", t.Name)
	case t.Script != "":
		c.checkScript(t, func(hint, format string, args ...any) { errAt(p+".script", hint, format, args...) })
	}
	if t.Retries < 0 || t.Retries > 100 {
		errAt(p+".retries", "use 0 to 100", "retries %d is out of range", t.Retries)
	}
	for name := range t.Env {
		if !envVarRE.MatchString(name) || strings.HasPrefix(name, "CL_") {
			errAt(p+".env."+name, "use a shell variable name not starting with CL_", "env name %q is not allowed", name)
		}
	}
	for _, prm := range t.Params.Values() {
		pp := p + ".params." + prm.Name
		if !envVarRE.MatchString(prm.Name) {
			errAt(pp, "use letters, digits and _ (it becomes CL_PARAM_<NAME>)", "param name %q is not valid", prm.Name)
		}
		if prm.Type == "" {
			prm.Type = ParamString
		}
		if !contains(ParamTypes, prm.Type) {
			errAt(pp+".type", "use string, int or bool", "param type %q is not supported", prm.Type)
			continue
		}
		if prm.Pattern != "" {
			if prm.Type != ParamString {
				errAt(pp+".pattern", "remove pattern or make the type string", "pattern applies only to string params")
			} else if err := prm.compile(); err != nil {
				errAt(pp+".pattern", "write a Go (RE2) regular expression", "pattern does not compile: %v", err)
			}
		}
		if prm.Default != nil {
			v, err := prm.Check(prm.Default)
			if err != nil {
				errAt(pp+".default", "make the default match the type and pattern", "default: %v", err)
			} else {
				prm.Default = v
			}
		}
	}
}

func (c *Config) checkScript(t *Task, errf func(hint, format string, args ...any)) {
	rel := t.Script
	if strings.HasPrefix(rel, "/") || strings.Contains("/"+rel+"/", "/../") {
		errf("give a path inside tasks/, such as "+t.Module+"/"+t.Name+".sh", "script %q must stay inside tasks/", rel)
		return
	}
	check := func() error { return checkInsideDir(c.Source.TasksDir, rel) }
	if c.Source.inFS {
		check = func() error { return checkInside(c.fsys, "tasks", rel, c.Source.TasksDir) }
	}
	if err := check(); err != nil {
		errf("create it (and commit it with its executable bit)", "script %s: %v", rel, err)
	}
}
