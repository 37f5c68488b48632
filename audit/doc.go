// Package audit keeps celeroot's tamper-evident audit trail: one record per
// administrative action (config edits, host add/remove/update, deploys,
// applied plans from the CLI and the agent, task runs and kills, beat
// stop/restart, key rotations), with who did it, what, on which targets,
// at which commit SHA, and how it ended.
//
// # Chain
//
// Records form a hash chain: record i carries prev = h(i-1) and
// hash = h(i) = hex(SHA-256(h(i-1) || canonical JSON of record i without
// its hash)), h(0) = "" and h(i-1) taken as its lowercase hex text. The
// canonical JSON has its object keys sorted and no white space (Canonical).
// The hash is computed here, in Go; Redis only stores the bytes.
//
// # Storage
//
// A Store (implemented by *queue.Queue) keeps the records in Redis, in the
// cluster/env namespace, and appends with a compare-and-set on the head
// (seq and hash of the last record): concurrent appenders retry on a moved
// head and keep one chain. Each appender mirrors its own records to a local
// JSONL file (0600), and with a signing key it writes a checkpoint (seq,
// head hash, time) signed in the SSHSIG format, namespace "cl-audit", into a
// file next to the mirror, outside Redis. Verify checks the chain, the head,
// the mirror against Redis, and the checkpoint (signature, key, and that
// Redis still holds the checkpointed record with the same hash), so that a
// modified, deleted, reordered or cut-off record and a replaced chain are
// each reported with the first bad sequence number.
//
// # What it does not own
//
// Redis (package queue), deciding which commands are audited (cmd/cl
// declares them; package agent records its applies), and secrets: records
// carry names, never parameter values or error text.
package audit
