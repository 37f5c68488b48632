// Package secrets resolves the secret references of task parameters and
// task env values (${secret:NAME#KEY@VERSION}, see ref.go) through the
// provider cl.yaml's secrets section names, and masks the values in what a
// task prints.
//
// # Providers
//
//   - vault: HashiCorp Vault's KV version 2 engine, any mount, versions,
//     token or AppRole login with renewal (vault.go, its HTTP API in
//     vaultapi.go).
//   - aws-secrets: AWS Secrets Manager GetSecretValue (the awsJson1_1
//     protocol, SigV4 in sigv4.go), version ids and stages.
//   - azure-kv: Azure Key Vault secrets (its REST API, with Key Vault's
//     challenge naming the token's scope) with an OAuth 2
//     client-credentials token.
//   - env, file: environment variables and files on the worker's host.
//   - age: age-encrypted files kept in the config repository
//     (filippo.io/age); Encrypt, Decrypt and Edit serve `cl secrets`.
//
// The cloud providers speak their services' HTTP APIs with net/http and
// the standard library, not the vendors' SDKs, whose package initialisers
// and code every start of cl would pay for. Each request has a deadline
// and is retried as the SDKs did (once, after a transport error,
// throttling or a 5xx).
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
