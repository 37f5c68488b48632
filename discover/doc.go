// Package discover finds hosts that could join the fleet: it scans a
// network for an open SSH port, checks the SSH banner, logs in with the
// configured credentials, observes the host (drift.Observe with facts, the
// same probe as `cl host status`) and gives a compatibility verdict
// (Linux, a supported architecture, enough free disk).
//
// It reports plain data (Candidate) and changes nothing: adding a candidate
// to cl.yaml is the host registry's job (config.AddHost via `cl host add`).
package discover
