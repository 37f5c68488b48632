package queue

import (
	"fmt"
	"strings"
)

// Namespace selects the key space of one celeroot cluster and environment on
// a Redis deployment. Two namespaces never see each other's queues, runs,
// logs or heartbeats, so several clusters can share one Redis.
type Namespace struct {
	// Cluster is the cluster name from cl.yaml (required).
	Cluster string
	// Env is the environment overlay name; empty means "default".
	Env string
}

// String returns "cluster/env".
func (ns Namespace) String() string { return ns.Cluster + "/" + ns.env() }

func (ns Namespace) env() string {
	if ns.Env == "" {
		return "default"
	}
	return ns.Env
}

func (ns Namespace) validate() error {
	if ns.Cluster == "" {
		return fmt.Errorf("namespace: cluster name is empty: set cluster.name in cl.yaml")
	}
	if err := checkName("cluster name", ns.Cluster); err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	if err := checkName("environment", ns.env()); err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	return nil
}

// checkName rejects the characters that would break the key layout: braces
// (they would move a key to another hash slot), whitespace and control bytes.
func checkName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > 200 {
		return fmt.Errorf("%s %.20q… is longer than 200 bytes", what, s)
	}
	for _, r := range s {
		if r == '{' || r == '}' || r <= ' ' || r == 0x7f {
			return fmt.Errorf("%s %q contains %q: use letters, digits and -_.:@", what, s, r)
		}
	}
	return nil
}

// HostQueue returns the name of the queue of one host ("host:<name>").
func HostQueue(host string) string { return "host:" + host }

// ParseHostQueue returns the host of a host queue name ("host:<name>");
// ok is false for any other queue (a role queue, or a malformed name).
func ParseHostQueue(q string) (host string, ok bool) {
	if host, ok = strings.CutPrefix(q, "host:"); !ok || host == "" {
		return "", false
	}
	return host, true
}

// ParseRoleQueue returns the queue name under workers.<role>.queue of a
// role queue name ("role:<name>"); ok is false for any other queue.
func ParseRoleQueue(q string) (name string, ok bool) {
	if name, ok = strings.CutPrefix(q, "role:"); !ok || name == "" {
		return "", false
	}
	return name, true
}

// RoleQueue returns the name of the queue shared by the workers of a role
// ("role:<name>").
func RoleQueue(role string) string { return "role:" + role }

// checkQueue validates a queue name: "host:<name>" or "role:<name>".
func checkQueue(q string) error {
	kind, name, ok := strings.Cut(q, ":")
	if !ok || (kind != "host" && kind != "role") || name == "" {
		return fmt.Errorf("queue %q: want host:<name> or role:<name>", q)
	}
	return checkName("queue", q)
}

// Keys builds the Redis keys of one namespace. The layout is described in
// doc.go; every key starts with "cl:<cluster>:<env>:" and carries exactly one
// hash tag, which decides its Redis Cluster slot.
type Keys struct{ prefix string }

func newKeys(ns Namespace) Keys {
	return Keys{prefix: "cl:" + ns.Cluster + ":" + ns.env() + ":"}
}

// Prefix returns "cl:<cluster>:<env>:".
func (k Keys) Prefix() string { return k.prefix }

// Per-queue keys, tagged {<queue>}: everything a script changes when a run
// moves between states lives in its queue's slot.

// Stream is the queue's Redis stream of run ids.
func (k Keys) Stream(queue string) string { return k.prefix + "{" + queue + "}:stream" }

// Delayed is the sorted set of runs waiting for a retry, scored by due time.
func (k Keys) Delayed(queue string) string { return k.prefix + "{" + queue + "}:delayed" }

// Running is the sorted set of the queue's running runs, scored by start time.
func (k Keys) Running(queue string) string { return k.prefix + "{" + queue + "}:running" }

// Run is the hash holding one run's record.
func (k Keys) Run(queue, id string) string { return k.prefix + "{" + queue + "}:run:" + id }

// Lease is the key whose life is the running run's lease.
func (k Keys) Lease(queue, id string) string { return k.prefix + "{" + queue + "}:lease:" + id }

// Cancel is set by Kill.
func (k Keys) Cancel(queue, id string) string { return k.prefix + "{" + queue + "}:cancel:" + id }

// Idem maps an idempotency key to the run it created, in the slot of the
// stream it gates.
func (k Keys) Idem(queue, key string) string { return k.prefix + "{" + queue + "}:idem:" + key }

// Per-run keys that no script shares with anything, tagged {run:<id>}.

// Where maps a run id to its queue, so that Get, Kill and Logs need only the id.
func (k Keys) Where(id string) string { return k.prefix + "{run:" + id + "}:queue" }

// Log is the run's capped log stream.
func (k Keys) Log(id string) string { return k.prefix + "{run:" + id + "}:log" }

// LogCut is the hash saying what was cut from the run's log to keep it
// within its byte budget: after (the id of the head's last line), lines and
// bytes.
func (k Keys) LogCut(id string) string { return k.prefix + "{run:" + id + "}:logcut" }

// Control is a host's control stream (kill requests), in the slot of the
// host's queue.
func (k Keys) Control(host string) string { return k.prefix + "{" + HostQueue(host) + "}:control" }

// Registry keys, tagged {workers}, so that one MULTI updates a heartbeat and
// its index entry together.

// Seen is the sorted set of hosts scored by their last heartbeat (unix ms).
func (k Keys) Seen() string { return k.prefix + "{workers}:seen" }

// Heartbeat is the hash of one worker's last heartbeat.
func (k Keys) Heartbeat(host string) string { return k.prefix + "{workers}:hb:" + host }

// Queues is the set of queue names that ever had a run enqueued.
func (k Keys) Queues() string { return k.prefix + "{workers}:queues" }
