// Package config owns cl.yaml: its model (Config and the types under it),
// loading from an fs.FS (a directory on disk by default, or the tree of a
// commit read straight from git objects, so the desired state at any
// commit loads without a checkout), the task modules of tasks/, the
// --env overlays of environments/, defaults, strict validation with
// diagnostics naming file:line:col, host selection, and comment- and
// order-preserving edits written atomically (ApplyEdit, Edit, AddHost,
// RemoveHost), serialised between processes by the registry lock
// (LockFile) under which the caller's commit also runs.
//
// It does not own git (package sync reads trees and commits the edits
// this package writes), Redis (package queue), hosts (hostexec, drift,
// deploy) or running tasks (worker). It imports no other package of the
// project, so every other package may import it.
package config
