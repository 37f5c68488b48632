// Package hostkeys is the one reader and writer of known_hosts files: it
// loads a file into a host key check (re-read on every call, parsed again
// only when its content changed, a missing file being an empty database),
// tells which key algorithms to ask a
// server for, and appends a first-contact key (accept-new) under a
// process-wide mutex and an flock, re-checking the file under both.
//
// It is shared by hostexec (fleet hosts) and sync (git servers over SSH),
// which keep their own policies and error messages. It does not decide
// whether to trust a key, and imports nothing of the project.
package hostkeys
