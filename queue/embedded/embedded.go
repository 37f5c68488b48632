// Package embedded runs an in-process Redis (miniredis) for the zero-setup
// dev mode (cl dev) and for tests, with a clock that makes keys expire.
//
// miniredis only counts a key's TTL down when told the time has passed
// (FastForward); Server does that every 10 ms, so leases, heartbeats and
// run records expire in real time as they do on redis-server. It holds
// everything in memory: a restart loses all queues.
//
// Gaps of miniredis that matter to package queue, checked by its
// conformance suite: XADD MAXLEN ~ trims exactly (harmless), XINFO is
// partial (queue does not use it), CLUSTER commands are absent (the suite
// covers Redis Cluster with real redis-server nodes).
package embedded

import (
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Server is a running in-process Redis.
type Server struct {
	m    *miniredis.Miniredis
	stop chan struct{}
	done sync.WaitGroup
}

// Start starts a server on 127.0.0.1 and a free port (addr "") or on addr.
func Start(addr string) (*Server, error) {
	m := miniredis.NewMiniRedis()
	var err error
	if addr == "" {
		err = m.Start()
	} else {
		err = m.StartAddr(addr)
	}
	if err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	s := &Server{m: m, stop: make(chan struct{})}
	s.done.Go(s.clock)
	return s, nil
}

// clock advances miniredis' TTLs with the wall clock.
func (s *Server) clock() {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.m.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Addr returns host:port.
func (s *Server) Addr() string { return s.m.Addr() }

// URL returns the redis:// URL of the server, for queue.Open.
func (s *Server) URL() string { return "redis://" + s.m.Addr() }

// Miniredis returns the underlying server, for tests.
func (s *Server) Miniredis() *miniredis.Miniredis { return s.m }

// Close stops the server.
func (s *Server) Close() {
	close(s.stop)
	s.done.Wait()
	s.m.Close()
}
