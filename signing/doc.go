// Package signing owns configuration and commit signatures: the canonical
// manifest of a config tree (cl.yaml, tasks/ and environments/: sorted
// paths, git mode, SHA-256), detached SSHSIG signatures over it (namespace
// cl-config, written by `cl config sign`, checked by `cl config verify`,
// `cl host deploy --verify` and `cl agent --require-signed`), the OpenSSH
// allowed-signers file that says who may sign, a revoked-keys list, and
// the check of SSH-signed git commits (namespace git, the key's validity
// judged at the commit time).
//
// # The signature file
//
// cl.yaml.sig (security.signature_file) is the armored SSH signature
// followed by the manifest it signs. ssh-keygen reads the signature and
// ignores what follows, so `ssh-keygen -Y verify` checks it with the
// manifest as the message; cl verify names the files that changed since
// signing by comparing the tree with that manifest.
//
// # What it does not own
//
// Reading git objects is package sync's (sync.CommitSignature gives a
// commit's signature and the payload it signs); the SSHSIG wire format and
// cryptography are github.com/hiddeco/sshsig's. Only the allowed-signers
// parser is written here. PGP-signed commits are refused, not verified.
package signing
