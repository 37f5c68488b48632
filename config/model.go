package config

import "io/fs"

// Config is a loaded, defaulted cl.yaml together with the task modules of its
// tasks/ directory. Field names follow the file's keys (see docs/config.md).
type Config struct {
	Cluster    Cluster           `yaml:"cluster" json:"cluster"`
	Redis      Redis             `yaml:"redis" json:"redis"`
	SSH        SSH               `yaml:"ssh,omitempty" json:"ssh"`
	Hosts      Map[*Host]        `yaml:"hosts" json:"hosts"`
	Workers    Map[*Worker]      `yaml:"workers" json:"workers"`
	Deployment Deployment        `yaml:"deployment" json:"deployment"`
	Schedules  Map[*Schedule]    `yaml:"schedules" json:"schedules"`
	Monitoring Monitoring        `yaml:"monitoring" json:"monitoring"`
	Secrets    Secrets           `yaml:"secrets" json:"secrets"`
	Audit      Audit             `yaml:"audit,omitempty" json:"audit"`
	Security   Security          `yaml:"security,omitempty" json:"security"`
	Modules    Map[*Module]      `yaml:"-" json:"-"` // task modules from tasks/, by module name
	Source     Source            `yaml:"-" json:"-"`
	positions  map[string]Pos    // dotted path -> position of its value
	keyPos     map[string]Pos    // dotted path -> position of its key
	files      map[string][]byte // file name -> contents, for edits
	fsys       fs.FS             // the configuration directory (cl.yaml, tasks/, environments/)
	setPaths   map[string]bool   // dotted paths present in the files
}

// Source says where a Config was read from.
type Source struct {
	Path     string `json:"path"`               // cl.yaml as given
	Dir      string `json:"dir"`                // directory holding cl.yaml and tasks/
	Env      string `json:"env,omitempty"`      // overlay name (--env), if any
	EnvPath  string `json:"env_path,omitempty"` // environments/<env>.yaml
	TasksDir string `json:"tasks_dir"`
	inFS     bool   // Dir is a slash path inside Options.FS
}

// Cluster is the cluster metadata.
type Cluster struct {
	Name        string `yaml:"name" json:"name"`
	Version     string `yaml:"version,omitempty" json:"version,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Environment is the environment this file is (cl.yaml) or the
	// overlay in use; after Load, the effective one ("" when none).
	Environment string `yaml:"environment,omitempty" json:"environment,omitempty"`
}

// Redis configures the coordination store.
type Redis struct {
	URL     string   `yaml:"url" json:"url"`
	TaskTTL Duration `yaml:"task_ttl" json:"task_ttl"`
	// LogBudget caps the bytes of output kept per task run: the head and
	// the tail are kept, the middle is cut (see docs/worker.md).
	LogBudget ByteSize    `yaml:"log_budget" json:"log_budget"`
	Backup    RedisBackup `yaml:"backup" json:"backup"`
	// WaitReplicas > 0 makes every enqueue wait until that many replicas
	// have it (Redis WAIT), for at most WaitTimeout; 0 turns it off.
	WaitReplicas int      `yaml:"wait_replicas,omitempty" json:"wait_replicas"`
	WaitTimeout  Duration `yaml:"wait_timeout,omitempty" json:"wait_timeout"`
}

// RedisBackup is celeroot's snapshot of its own Redis keys.
type RedisBackup struct {
	Enabled   bool   `yaml:"enabled" json:"enabled"`
	Schedule  string `yaml:"schedule" json:"schedule"`
	Directory string `yaml:"directory" json:"directory"`
	Keep      int    `yaml:"keep" json:"keep"`
	// BeforeApply makes a cluster backup (cl cluster backup --auto) into
	// Directory before every apply (cl apply, the agent's).
	BeforeApply bool `yaml:"before_apply" json:"before_apply"`
}

// SSH holds the defaults for reaching hosts.
type SSH struct {
	DefaultUser   string      `yaml:"default_user" json:"default_user"`
	DefaultKey    string      `yaml:"default_key,omitempty" json:"default_key,omitempty"`
	DefaultPort   int         `yaml:"default_port" json:"default_port"`
	Timeout       Duration    `yaml:"timeout" json:"timeout"`
	Persist       Duration    `yaml:"persist" json:"persist"`
	KnownHosts    string      `yaml:"known_hosts" json:"known_hosts"`
	HostKeyPolicy string      `yaml:"host_key_policy" json:"host_key_policy"`
	JumpHost      string      `yaml:"jump_host,omitempty" json:"jump_host,omitempty"`
	Become        string      `yaml:"become,omitempty" json:"become,omitempty"`
	KeyRotation   KeyRotation `yaml:"key_rotation" json:"key_rotation"`
}

// KeyRotation configures scheduled rotation of the deploy key.
type KeyRotation struct {
	Enabled    bool   `yaml:"enabled" json:"enabled"`
	Schedule   string `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	BackupKeys int    `yaml:"backup_keys" json:"backup_keys"`
}

// Host is one machine of the fleet.
type Host struct {
	Name       string            `yaml:"-" json:"name"`
	Role       string            `yaml:"role" json:"role"`
	Address    string            `yaml:"address" json:"address"`
	Connection string            `yaml:"connection,omitempty" json:"connection,omitempty"`
	SSH        HostSSH           `yaml:"ssh,omitempty" json:"ssh"`
	Tags       map[string]string `yaml:"tags,omitempty" json:"tags,omitempty"`
	// AssessOnly hosts have their drift reported, never repaired (neither
	// by cl cluster reconcile nor by the agent's self-heal).
	AssessOnly bool `yaml:"assess_only,omitempty" json:"assess_only,omitempty"`
	// Fleet names the blue-green fleet the host belongs to (empty: the
	// configuration has no fleets). See fleets.go.
	Fleet string `yaml:"fleet,omitempty" json:"fleet,omitempty"`
}

// HostSSH overrides the ssh defaults for one host.
type HostSSH struct {
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	Key  string `yaml:"key,omitempty" json:"key,omitempty"`
	Port int    `yaml:"port,omitempty" json:"port,omitempty"`
	Jump string `yaml:"jump,omitempty" json:"jump,omitempty"`
}

// Worker is a worker role: what the workers of hosts with this role consume
// and load.
type Worker struct {
	Name             string   `yaml:"-" json:"name"`
	Queue            string   `yaml:"queue" json:"queue"`
	Concurrency      int      `yaml:"concurrency" json:"concurrency"`
	MaxTasksPerChild int      `yaml:"max_tasks_per_child" json:"max_tasks_per_child"`
	Tasks            []string `yaml:"tasks" json:"tasks"`
}

// Deployment configures how releases reach hosts.
type Deployment struct {
	TargetDirectory string   `yaml:"target_directory" json:"target_directory"`
	ServiceName     string   `yaml:"service_name" json:"service_name"`
	RestartCommand  string   `yaml:"restart_command,omitempty" json:"restart_command,omitempty"`
	HealthCheckURL  string   `yaml:"health_check_url" json:"health_check_url"`
	HealthTimeout   Duration `yaml:"health_timeout" json:"health_timeout"`
	KeepReleases    int      `yaml:"keep_releases" json:"keep_releases"`
	Strategy        string   `yaml:"strategy" json:"strategy"`
	Batch           string   `yaml:"batch" json:"batch"`
	MaxFail         int      `yaml:"max_fail" json:"max_fail"`
	Canary          int      `yaml:"canary" json:"canary"`
	SetupCommand    []string `yaml:"setup_command,omitempty" json:"setup_command,omitempty"`
	SetupTimeout    Duration `yaml:"setup_timeout" json:"setup_timeout"`
}

// Schedule is one cron schedule.
type Schedule struct {
	Name             string            `yaml:"-" json:"name"`
	Cron             string            `yaml:"cron" json:"cron"`
	Task             string            `yaml:"task" json:"task"`
	Targets          []Target          `yaml:"targets" json:"targets"`
	Params           map[string]any    `yaml:"params,omitempty" json:"params,omitempty"`
	Description      string            `yaml:"description,omitempty" json:"description,omitempty"`
	Timezone         string            `yaml:"timezone" json:"timezone"`
	Enabled          *bool             `yaml:"enabled" json:"enabled"`
	Catchup          string            `yaml:"catchup" json:"catchup"`
	StartingDeadline Duration          `yaml:"starting_deadline" json:"starting_deadline"`
	Concurrency      ConcurrencyPolicy `yaml:"concurrency" json:"concurrency"`
}

// IsEnabled reports whether the schedule fires (enabled defaults to true).
func (s *Schedule) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// Target selects hosts for a schedule; the targets of a schedule are a union.
// Exactly one field is set.
type Target struct {
	Role  string            `yaml:"role,omitempty" json:"role,omitempty"`
	Tags  map[string]string `yaml:"tags,omitempty" json:"tags,omitempty"`
	Host  string            `yaml:"host,omitempty" json:"host,omitempty"`
	Hosts []string          `yaml:"hosts,omitempty" json:"hosts,omitempty"`
}

// Monitoring configures health checks and alerts.
type Monitoring struct {
	HealthCheckInterval Duration       `yaml:"health_check_interval" json:"health_check_interval"`
	AlertChannels       []AlertChannel `yaml:"alert_channels,omitempty" json:"alert_channels,omitempty"`
	Metrics             []Metric       `yaml:"metrics,omitempty" json:"metrics,omitempty"`
	// SelfHeal: the agent repairs the drift its periodic check finds
	// (nil: on; see SelfHealOn).
	SelfHeal *bool `yaml:"self_heal,omitempty" json:"self_heal,omitempty"`
	// AlertInterval is how often the agent evaluates the alert conditions.
	AlertInterval Duration `yaml:"alert_interval,omitempty" json:"alert_interval"`
	// AlertCooldown is how long an alert still firing is not sent again.
	AlertCooldown Duration `yaml:"alert_cooldown,omitempty" json:"alert_cooldown"`
	// SMTP is the mail server of email alert channels.
	SMTP SMTP `yaml:"smtp,omitempty" json:"smtp"`
	// SlackWebhookURL is the Slack incoming webhook that channel-form slack
	// alert channels ("#alerts") post to.
	SlackWebhookURL string `yaml:"slack_webhook_url,omitempty" json:"slack_webhook_url,omitempty"`
}

// SMTP is a mail server for alerts. The password is never in cl.yaml: it
// is read from the environment variable PasswordEnv, or Password is a
// secret reference (${secret:…}) the agent resolves when it sends.
type SMTP struct {
	Address     string `yaml:"address,omitempty" json:"address,omitempty"` // host:port
	From        string `yaml:"from,omitempty" json:"from,omitempty"`
	Username    string `yaml:"username,omitempty" json:"username,omitempty"`
	PasswordEnv string `yaml:"password_env,omitempty" json:"password_env,omitempty"`
	Password    string `yaml:"password,omitempty" json:"password,omitempty"`
}

// SelfHealOn reports whether the agent repairs drift: monitoring.self_heal,
// on when not set.
func (m Monitoring) SelfHealOn() bool { return m.SelfHeal == nil || *m.SelfHeal }

// AlertChannel is one destination for alerts; exactly one field is set.
type AlertChannel struct {
	Email   string `yaml:"email,omitempty" json:"email,omitempty"`
	Slack   string `yaml:"slack,omitempty" json:"slack,omitempty"`
	Webhook string `yaml:"webhook,omitempty" json:"webhook,omitempty"`
}

// Metric is an alert threshold on a named metric.
type Metric struct {
	Name      string  `yaml:"name" json:"name"`
	Threshold float64 `yaml:"threshold" json:"threshold"`
}

// Secrets configures the secrets provider (docs/security.md#secrets).
// Credentials are never values here: cl.yaml names the files or
// environment variables that hold them.
type Secrets struct {
	Provider  string `yaml:"provider,omitempty" json:"provider,omitempty"`
	Endpoint  string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	Path      string `yaml:"path,omitempty" json:"path,omitempty"`
	Mount     string `yaml:"mount,omitempty" json:"mount,omitempty"`
	Region    string `yaml:"region,omitempty" json:"region,omitempty"`
	CAFile    string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	TokenEnv  string `yaml:"token_env,omitempty" json:"token_env,omitempty"`
	RoleID    string `yaml:"role_id,omitempty" json:"role_id,omitempty"`
	// SecretFile/SecretEnv: the provider's secret credential (Vault AppRole
	// secret-id, AWS secret access key, Azure client secret).
	SecretFile     string   `yaml:"secret_file,omitempty" json:"secret_file,omitempty"`
	SecretEnv      string   `yaml:"secret_env,omitempty" json:"secret_env,omitempty"`
	KeyIDEnv       string   `yaml:"key_id_env,omitempty" json:"key_id_env,omitempty"`
	TenantID       string   `yaml:"tenant_id,omitempty" json:"tenant_id,omitempty"`
	ClientID       string   `yaml:"client_id,omitempty" json:"client_id,omitempty"`
	Authority      string   `yaml:"authority,omitempty" json:"authority,omitempty"`
	Recipients     []string `yaml:"recipients,omitempty" json:"recipients,omitempty"`
	RecipientsFile string   `yaml:"recipients_file,omitempty" json:"recipients_file,omitempty"`
	IdentityFile   string   `yaml:"identity_file,omitempty" json:"identity_file,omitempty"`
	IdentityEnv    string   `yaml:"identity_env,omitempty" json:"identity_env,omitempty"`
}

// Security configures configuration and commit signing (docs/security.md).
// Paths are relative to cl.yaml's directory; ~/ is expanded.
type Security struct {
	// AllowedSigners is an OpenSSH allowed-signers file: who may sign the
	// configuration (namespace cl-config) and commits (namespace git).
	AllowedSigners string `yaml:"allowed_signers,omitempty" json:"allowed_signers,omitempty"`
	// SignatureFile is the detached signature of the configuration;
	// empty: cl.yaml.sig next to cl.yaml.
	SignatureFile string `yaml:"signature_file,omitempty" json:"signature_file,omitempty"`
	// RevokedKeys lists public keys (one a line) that no longer sign.
	RevokedKeys string `yaml:"revoked_keys,omitempty" json:"revoked_keys,omitempty"`
	// PGPKeyRing is armored PGP public keys that may sign commits.
	PGPKeyRing string `yaml:"pgp_keyring,omitempty" json:"pgp_keyring,omitempty"`
}

// Audit configures the audit trail (docs/audit.md).
type Audit struct {
	// SigningKey is an OpenSSH (or PEM) private key that signs the
	// checkpoints of the chain; empty: no checkpoints, so a cut tail is
	// detected only by the local mirror.
	SigningKey string `yaml:"signing_key,omitempty" json:"signing_key,omitempty"`
	// FailClosed refuses a mutating command whose "started" record cannot
	// be written.
	FailClosed bool `yaml:"fail_closed,omitempty" json:"fail_closed"`
	// File is the local JSONL mirror; empty: the user's state directory.
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	// CheckpointEvery signs a checkpoint after every this many records.
	CheckpointEvery int `yaml:"checkpoint_every,omitempty" json:"checkpoint_every"`
}
