// Package sshkeys rotates the SSH keys cl logs in to hosts with
// (`cl host rotate-keys`, and the beat when ssh.key_rotation.enabled).
//
// A rotation is all or nothing across the fleet. For each private key file
// that cl.yaml's SSH hosts use, it generates a new ed25519 key, adds its
// public half to every host's ~/.ssh/authorized_keys (over the old key),
// then opens a fresh connection to every host with the new key alone (no
// agent) and runs `true`. Only when every host passed does it install the
// new key locally (the old one kept as a 0600 backup, the newest
// ssh.key_rotation.backup_keys of them) and remove the old key from every
// host, logging in with the new one. If any host fails before that, the
// new key is taken out again where it was added, nothing else is removed
// anywhere, and the report names the hosts that failed.
//
// Keys travel to hosts as data on stdin and as quoted argv, never spliced
// into shell text. It imports config and hostexec only.
package sshkeys
