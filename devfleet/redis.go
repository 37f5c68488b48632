package devfleet

import (
	"fmt"
	"net"

	"github.com/celeroot/celeroot/config"
	"github.com/celeroot/celeroot/queue"
	"github.com/celeroot/celeroot/queue/embedded"
)

// StartRedis starts the embedded in-memory Redis on the address of
// redisURL, which must be one plain Redis on a loopback address, with the
// URL's password if it has one.
func StartRedis(redisURL string) (*embedded.Server, error) {
	ep, err := endpoint(redisURL)
	if err != nil {
		return nil, err
	}
	srv, err := embedded.Start(ep.Addrs[0])
	if err != nil {
		return nil, fmt.Errorf("cl dev: %w (is another cl dev or a redis-server using %s? stop it, or change redis.url's port)", err, ep.Addrs[0])
	}
	switch {
	case ep.Username != "" && ep.Password != "":
		srv.Miniredis().RequireUserAuth(ep.Username, ep.Password)
	case ep.Password != "":
		srv.Miniredis().RequireAuth(ep.Password)
	}
	return srv, nil
}

// endpoint checks that redisURL names one plain Redis on a loopback
// address, which is where the embedded server listens.
func endpoint(raw string) (*queue.Endpoint, error) {
	fix := "fix: use --env dev (examples/fleet/environments/dev.yaml), or set redis.url to redis://127.0.0.1:6390/0"
	ep, err := queue.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("cl dev: %w (%s)", err, fix)
	}
	if ep.Mode != queue.ModeSingle || ep.TLS {
		return nil, fmt.Errorf("cl dev serves one plain in-memory Redis, but redis.url is %s (%s)", config.MaskURL(raw), fix)
	}
	host, _, err := net.SplitHostPort(ep.Addrs[0])
	if err != nil {
		return nil, fmt.Errorf("cl dev: redis.url %s: %w (%s)", config.MaskURL(raw), err, fix)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("cl dev listens on this machine only, but redis.url %s is not a loopback address (%s)", config.MaskURL(raw), fix)
	}
	return ep, nil
}
