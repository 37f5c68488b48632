// Package cluster holds the whole-cluster operations that are neither
// planning nor observing: creating a cluster (`cl cluster init`: the
// config skeleton, a git repository with its first commit, and a check
// that the cluster's Redis namespace is free) and its backup and restore
// (`cl cluster backup`, `cl cluster restore`, the backup before an apply).
//
// A backup is one gzip'd file of JSON lines: a header (format version,
// cluster, environment, key prefix, HEAD SHA, a summary of the applied
// state and the beat's last fires), one line per configuration file
// (cl.yaml, tasks/, environments/), one line per Redis key of the
// namespace read by type (queue.KeyRecord: no DUMP, so cl dev's miniredis
// works), and a trailer with the counts and the SHA-256 of every line
// before it. Restore reads and checks the whole file before it writes a
// key.
//
// It does not own Redis (package queue reads and writes the keys) nor git
// (package sync makes the first commit).
package cluster
