// Package secrets resolves the secret references of task parameters and
// task env values (${secret:NAME#KEY@VERSION}, see ref.go) through the
// provider cl.yaml's secrets section names, and masks the values in what a
// task prints.
//
// # Providers
//
//   - vault: HashiCorp Vault's KV version 2 engine (hashicorp/vault/api),
//     any mount, versions, token or AppRole login with renewal.
//   - aws-secrets: AWS Secrets Manager GetSecretValue (aws-sdk-go-v2,
//     SigV4), version ids and stages.
//   - azure-kv: Azure Key Vault secrets (azsecrets, azcore's challenge
//     authentication) with an OAuth 2 client-credentials token.
//   - env, file: environment variables and files on the worker's host.
//   - age: age-encrypted files kept in the config repository
//     (filippo.io/age); Encrypt, Decrypt and Edit serve `cl secrets`.
//
// Open builds a provider without reading a credential or opening a
// connection; credentials are read from the files or environment variables
// cl.yaml names at each use, never from cl.yaml values.
//
// # Where values go
//
// Only the worker resolves references (ResolveRun), right before it starts
// a run's process: values reach the task in its environment and its stdin,
// and the run's output passes through a Masker that writes *** instead.
// Errors of this package name secrets (Ref.Label), never their values.
//
// # What it does not own
//
// Running tasks (package worker), the audit trail (package audit: the
// worker records the names a run resolved) and the command line (cl
// secrets in cmd/cl).
package secrets
