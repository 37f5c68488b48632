package queue

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/celeroot/celeroot/config"
	"github.com/redis/go-redis/v9"
)

// Mode is the kind of Redis deployment an Endpoint names.
type Mode string

// The deployments Open can connect to.
const (
	ModeSingle   Mode = "single"   // one redis-server (or a proxy in front of many)
	ModeSentinel Mode = "sentinel" // a master found through Redis Sentinel
	ModeCluster  Mode = "cluster"  // Redis Cluster
)

// Endpoint is a parsed Redis URL. See ParseURL for the forms.
type Endpoint struct {
	Mode               Mode
	TLS                bool
	Addrs              []string // host:port; sentinels in sentinel mode, seed nodes in cluster mode
	Username, Password string   // of the Redis servers (not of the sentinels)
	DB                 int
	MasterName         string // sentinel mode
	SentinelUsername   string // sentinel mode, when the sentinels require auth
	SentinelPassword   string
	TLSCAFile          string // PEM file of the CA to trust instead of the system roots
	ClientName         string
	PoolSize           int
	DialTimeout        time.Duration
	ReadTimeout        time.Duration
	WriteTimeout       time.Duration
	scheme             string
}

// ParseURL parses a Redis URL in one of these forms (doc.go has more):
//
//	redis://[user[:password]@]host[:port][/db][?options]
//	rediss://…                                       same, over TLS
//	redis-sentinel://[user[:password]@]host[:port][,host[:port]…][/db]?master=NAME[&options]
//	rediss-sentinel://…                              same, over TLS
//	redis-cluster://[user[:password]@]host[:port][,host[:port]…][?options]
//	rediss-cluster://…                               same, over TLS
//
// Default ports: 6379, and 26379 for sentinels. Options: dial_timeout,
// read_timeout, write_timeout (Go durations, or seconds), pool_size,
// client_name, tls_ca (a PEM file), and for sentinel mode master (required),
// sentinel_username, sentinel_password. Unknown options are errors.
// User name and password are percent-decoded.
func ParseURL(raw string) (*Endpoint, error) {
	ep, err := parseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redis url %q: %w", config.MaskURL(raw), err)
	}
	return ep, nil
}

func parseURL(raw string) (*Endpoint, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("missing scheme: want redis://host:port/db (or rediss://, redis-sentinel://, redis-cluster://)")
	}
	ep := &Endpoint{scheme: scheme}
	port := "6379"
	switch scheme {
	case "redis", "rediss":
		ep.Mode = ModeSingle
	case "redis-sentinel", "rediss-sentinel":
		ep.Mode, port = ModeSentinel, "26379"
	case "redis-cluster", "rediss-cluster":
		ep.Mode = ModeCluster
	default:
		return nil, fmt.Errorf("unknown scheme %q: use redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster", scheme)
	}
	ep.TLS = strings.HasPrefix(scheme, "rediss")

	// The user info ends at the last '@', so an unencoded '/' or '?' in a
	// password does not cut the URL short.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, pass, _ := strings.Cut(rest[:at], ":")
		var err error
		// The unescape errors quote the bad escape, a piece of the secret:
		// say what is wrong without them.
		if ep.Username, err = url.PathUnescape(user); err != nil {
			return nil, fmt.Errorf("user name: a '%%' not followed by two hex digits; write a literal %% as %%25")
		}
		if ep.Password, err = url.PathUnescape(pass); err != nil {
			return nil, fmt.Errorf("password: a '%%' not followed by two hex digits; write a literal %% as %%25")
		}
		rest = rest[at+1:]
	}
	rest, query, _ := strings.Cut(rest, "?")
	hosts, path, _ := strings.Cut(rest, "/")
	if hosts == "" {
		return nil, fmt.Errorf("no host")
	}
	for _, h := range strings.Split(hosts, ",") {
		addr, err := hostPort(h, port)
		if err != nil {
			return nil, err
		}
		ep.Addrs = append(ep.Addrs, addr)
	}
	if ep.Mode == ModeSingle && len(ep.Addrs) > 1 {
		return nil, fmt.Errorf("%d hosts: a redis:// URL names one server; use redis-cluster:// or redis-sentinel:// for several", len(ep.Addrs))
	}
	if path = strings.TrimSuffix(path, "/"); path != "" {
		db, err := strconv.Atoi(path)
		if err != nil || db < 0 {
			return nil, fmt.Errorf("database %q: want a number, e.g. /0", path)
		}
		if ep.Mode == ModeCluster && db != 0 {
			return nil, fmt.Errorf("database %d: Redis Cluster has only database 0", db)
		}
		ep.DB = db
	}
	if err := ep.parseOptions(query); err != nil {
		return nil, err
	}
	if ep.Mode == ModeSentinel && ep.MasterName == "" {
		return nil, fmt.Errorf("no master name: add ?master=NAME (the name in sentinel.conf)")
	}
	return ep, nil
}

func hostPort(h, port string) (string, error) {
	if h == "" {
		return "", fmt.Errorf("empty host in host list")
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") || !strings.Contains(h, ":") {
		h = net.JoinHostPort(strings.Trim(h, "[]"), port)
	}
	host, p, err := net.SplitHostPort(h)
	if err != nil {
		return "", fmt.Errorf("host %q: %w", h, err)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || host == "" {
		return "", fmt.Errorf("host %q: want host:port with a port from 1 to 65535", h)
	}
	return net.JoinHostPort(host, p), nil
}

func (ep *Endpoint) parseOptions(query string) error {
	vals, err := url.ParseQuery(query)
	if err != nil {
		// Not %w: the error quotes the bad escape, maybe a piece of sentinel_password.
		return fmt.Errorf("options: a '%%' not followed by two hex digits, or a ';'; write a literal %% as %%25 and separate options with &")
	}
	for k, vs := range vals {
		v := vs[len(vs)-1]
		switch k {
		case "dial_timeout":
			ep.DialTimeout, err = duration(k, v)
		case "read_timeout":
			ep.ReadTimeout, err = duration(k, v)
		case "write_timeout":
			ep.WriteTimeout, err = duration(k, v)
		case "pool_size":
			if ep.PoolSize, err = strconv.Atoi(v); err != nil || ep.PoolSize < 1 {
				err = fmt.Errorf("pool_size %q: want a positive number", v)
			}
		case "client_name":
			ep.ClientName = v
		case "tls_ca":
			if !ep.TLS {
				return fmt.Errorf("tls_ca needs a rediss scheme")
			}
			ep.TLSCAFile = v
		case "master", "sentinel_username", "sentinel_password":
			if ep.Mode != ModeSentinel {
				return fmt.Errorf("option %s is for redis-sentinel:// URLs", k)
			}
			switch k {
			case "master":
				ep.MasterName = v
			case "sentinel_username":
				ep.SentinelUsername = v
			default:
				ep.SentinelPassword = v
			}
		default:
			return fmt.Errorf("unknown option %q: known are dial_timeout, read_timeout, write_timeout, pool_size, client_name, tls_ca, master, sentinel_username, sentinel_password", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func duration(k, v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q: want a duration such as 3s or 500ms", k, v)
	}
	return d, nil
}

// String returns the URL with its passwords hidden, for logs and errors.
func (ep *Endpoint) String() string {
	var b strings.Builder
	b.WriteString(ep.scheme + "://")
	if ep.Username != "" || ep.Password != "" {
		b.WriteString(url.PathEscape(ep.Username))
		if ep.Password != "" {
			b.WriteString(":" + config.Masked)
		}
		b.WriteString("@")
	}
	b.WriteString(strings.Join(ep.Addrs, ","))
	if ep.DB != 0 {
		b.WriteString("/" + strconv.Itoa(ep.DB))
	}
	if ep.MasterName != "" {
		b.WriteString("?master=" + url.QueryEscape(ep.MasterName))
	}
	return b.String()
}

// Client builds the go-redis client of the endpoint. It does not connect.
func (ep *Endpoint) Client() (redis.UniversalClient, error) {
	var tlsConf *tls.Config
	if ep.TLS {
		// ServerName stays empty: crypto/tls takes it from each address dialed.
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
		if ep.TLSCAFile != "" {
			pem, err := os.ReadFile(ep.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("read tls_ca of %s: %w", ep, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls_ca %s of %s: no PEM certificate in it", ep.TLSCAFile, ep)
			}
			tlsConf.RootCAs = pool
		}
	}
	switch ep.Mode {
	case ModeSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: ep.MasterName, SentinelAddrs: ep.Addrs,
			SentinelUsername: ep.SentinelUsername, SentinelPassword: ep.SentinelPassword,
			Username: ep.Username, Password: ep.Password, DB: ep.DB, TLSConfig: tlsConf,
			ClientName: ep.ClientName, PoolSize: ep.PoolSize, DialTimeout: ep.DialTimeout,
			ReadTimeout: ep.ReadTimeout, WriteTimeout: ep.WriteTimeout, ContextTimeoutEnabled: true,
		}), nil
	case ModeCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: ep.Addrs, Username: ep.Username, Password: ep.Password, TLSConfig: tlsConf,
			ClientName: ep.ClientName, PoolSize: ep.PoolSize, DialTimeout: ep.DialTimeout,
			ReadTimeout: ep.ReadTimeout, WriteTimeout: ep.WriteTimeout, ContextTimeoutEnabled: true,
		}), nil
	}
	return redis.NewClient(&redis.Options{
		Addr: ep.Addrs[0], Username: ep.Username, Password: ep.Password, DB: ep.DB, TLSConfig: tlsConf,
		ClientName: ep.ClientName, PoolSize: ep.PoolSize, DialTimeout: ep.DialTimeout,
		ReadTimeout: ep.ReadTimeout, WriteTimeout: ep.WriteTimeout, ContextTimeoutEnabled: true,
	}), nil
}
