package config

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"
)

// Defaults for keys that are absent from cl.yaml. docs/config.md lists them;
// TestDefaultsDocumented keeps the two in step.
const (
	DefaultClusterName         = "default"
	DefaultRedisURL            = "redis://127.0.0.1:6379/0"
	DefaultTaskTTL             = 24 * time.Hour
	DefaultWaitTimeout         = time.Second
	DefaultLogBudget           = 4 << 20 // bytes of output kept per task run
	MinLogBudget               = 64 << 10
	DefaultBackupSchedule      = "0 4 * * *"
	DefaultBackupDirectory     = "/var/lib/celeroot/backups"
	DefaultBackupKeep          = 7
	DefaultSSHPort             = 22
	DefaultSSHTimeout          = 30 * time.Second
	DefaultSSHPersist          = 60 * time.Second
	DefaultKnownHosts          = "~/.ssh/known_hosts"
	DefaultHostKeyPolicy       = "strict"
	DefaultKeyRotationSchedule = "0 3 1 * *"
	DefaultBackupKeys          = 3
	DefaultConcurrency         = 1
	DefaultTargetDirectory     = "/opt/celeroot"
	DefaultServiceName         = "celeroot-worker"
	DefaultHealthCheckURL      = "http://localhost:8000/health"
	DefaultHealthTimeout       = 30 * time.Second
	DefaultKeepReleases        = 5
	DefaultStrategy            = "rolling"
	DefaultBatch               = "1"
	DefaultCanary              = 1
	DefaultSetupTimeout        = 5 * time.Minute
	DefaultTimezone            = "UTC"
	DefaultCatchup             = "once"
	DefaultStartingDeadline    = time.Hour
	DefaultScheduleConcurrency = ConcurrencyAllow
	DefaultHealthCheckInterval = 300 * time.Second
	DefaultAlertInterval       = 60 * time.Second
	DefaultAlertCooldown       = 30 * time.Minute
)

// DefaultUser is the login used when neither ssh.default_user nor a host's
// ssh.user is set: the local user running cl, as OpenSSH does.
func DefaultUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

func setStr(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setInt(i *int, def int, present bool) {
	if !present {
		*i = def
	}
}

func setDur(d *Duration, def time.Duration, present bool) {
	if !present {
		*d = Duration(def)
	}
}

// applyDefaults fills what the files left out. Keys that are present keep
// their value even when it is zero, so that validation can reject it.
func (c *Config) applyDefaults() {
	has := func(p string) bool { return c.setPaths[p] }
	setStr(&c.Cluster.Name, DefaultClusterName)
	setStr(&c.Redis.URL, DefaultRedisURL)
	setDur(&c.Redis.TaskTTL, DefaultTaskTTL, has("redis.task_ttl"))
	setDur(&c.Redis.WaitTimeout, DefaultWaitTimeout, has("redis.wait_timeout"))
	if !has("redis.log_budget") {
		c.Redis.LogBudget = DefaultLogBudget
	}
	setStr(&c.Redis.Backup.Schedule, DefaultBackupSchedule)
	setStr(&c.Redis.Backup.Directory, DefaultBackupDirectory)
	setInt(&c.Redis.Backup.Keep, DefaultBackupKeep, has("redis.backup.keep"))
	setStr(&c.SSH.DefaultUser, DefaultUser())
	setInt(&c.SSH.DefaultPort, DefaultSSHPort, has("ssh.default_port"))
	setDur(&c.SSH.Timeout, DefaultSSHTimeout, has("ssh.timeout"))
	setDur(&c.SSH.Persist, DefaultSSHPersist, has("ssh.persist"))
	setStr(&c.SSH.KnownHosts, DefaultKnownHosts)
	setStr(&c.SSH.HostKeyPolicy, DefaultHostKeyPolicy)
	setStr(&c.SSH.KeyRotation.Schedule, DefaultKeyRotationSchedule)
	setInt(&c.SSH.KeyRotation.BackupKeys, DefaultBackupKeys, has("ssh.key_rotation.backup_keys"))
	for _, h := range c.Hosts.Values() {
		setStr(&h.Address, h.Name)
	}
	for _, w := range c.Workers.Values() {
		setStr(&w.Queue, w.Name)
		setInt(&w.Concurrency, DefaultConcurrency, has("workers."+w.Name+".concurrency"))
	}
	d := &c.Deployment
	setStr(&d.TargetDirectory, DefaultTargetDirectory)
	setStr(&d.ServiceName, DefaultServiceName)
	setStr(&d.HealthCheckURL, DefaultHealthCheckURL)
	setDur(&d.HealthTimeout, DefaultHealthTimeout, has("deployment.health_timeout"))
	setInt(&d.KeepReleases, DefaultKeepReleases, has("deployment.keep_releases"))
	setStr(&d.Strategy, DefaultStrategy)
	setStr(&d.Batch, DefaultBatch)
	setInt(&d.Canary, DefaultCanary, has("deployment.canary"))
	setDur(&d.SetupTimeout, DefaultSetupTimeout, has("deployment.setup_timeout"))
	for _, s := range c.Schedules.Values() {
		setStr(&s.Timezone, DefaultTimezone)
		setStr(&s.Catchup, DefaultCatchup)
		setDur(&s.StartingDeadline, DefaultStartingDeadline, has("schedules."+s.Name+".starting_deadline"))
		if s.Concurrency == "" {
			s.Concurrency = DefaultScheduleConcurrency
		}
	}
	setDur(&c.Monitoring.HealthCheckInterval, DefaultHealthCheckInterval, has("monitoring.health_check_interval"))
	setDur(&c.Monitoring.AlertInterval, DefaultAlertInterval, has("monitoring.alert_interval"))
	setDur(&c.Monitoring.AlertCooldown, DefaultAlertCooldown, has("monitoring.alert_cooldown"))
}

// ExpandHome replaces a leading ~/ with the user's home directory.
func ExpandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

// Conn is how to reach a host: cl.yaml's per-host ssh settings over the ssh
// defaults.
type Conn struct {
	Address string `json:"address"`
	Port    int    `json:"port"`
	User    string `json:"user"`
	Key     string `json:"key,omitempty"`
	Jump    string `json:"jump,omitempty"`
}

// ConnFor resolves the connection settings of h.
func (c *Config) ConnFor(h *Host) Conn {
	cn := Conn{Address: h.Address, Port: h.SSH.Port, User: h.SSH.User, Key: h.SSH.Key, Jump: h.SSH.Jump}
	if cn.Port == 0 {
		cn.Port = c.SSH.DefaultPort
	}
	setStr(&cn.User, c.SSH.DefaultUser)
	setStr(&cn.Key, c.SSH.DefaultKey)
	setStr(&cn.Jump, c.SSH.JumpHost)
	if cn.Jump == "none" {
		cn.Jump = ""
	}
	return cn
}
