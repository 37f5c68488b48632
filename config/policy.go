package config

// ConcurrencyPolicy is a schedule's `concurrency`: what a host's worker
// does with a fire of the schedule while its previous run of that
// schedule still runs there.
type ConcurrencyPolicy string

// The concurrency policies (ConcurrencyPolicies lists them for
// validation and docs/config.md).
const (
	ConcurrencyAllow  ConcurrencyPolicy = "allow"  // run it alongside
	ConcurrencyForbid ConcurrencyPolicy = "forbid" // skip it (the run fails at once, not retried)
)

// Forbids reports whether a run of the schedule is skipped while another
// one runs on the same host.
func (p ConcurrencyPolicy) Forbids() bool { return p == ConcurrencyForbid }
