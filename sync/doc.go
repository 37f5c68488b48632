// Package sync owns git, all of it: it is the one package that imports
// go-git. It opens the work tree holding a path (Open), resolves HEAD and
// other revisions, reads the tree of a directory at a commit into memory
// as an fs.FS (Tree: config.Load reads the desired state at any commit
// from it without a checkout, deploy builds a release from it), lists a
// work tree's uncommitted changes, and commits: one file edited in place
// (CommitFile, for the registry edits of `cl host add/remove`), or a
// commit prepared on no branch and moved onto it later (Prepare, Advance,
// for `cl host add`, which deploys the registration commit before
// making it). Every call takes a context.
//
// # Repository sources
//
// A Source tracks one branch of a remote config repository for the agent
// (NewSource): a local path or file:// URL, git://, https with a token
// from a file or the environment, or ssh with a key checked against
// known_hosts (strict, or accept-new when asked). The repository is
// cloned once, bare, into a state directory; Fetch then brings the branch
// up to date and returns its head SHA — a fetch with nothing new costs one
// ref listing, a force-pushed branch is followed. Tree and Commit read any
// fetched commit from the clone's object store, Tree rooted at the
// config's directory (SourceOptions.Path) like WorkTree.Tree. Errors never
// show credentials. Watch calls back shortly after the refs of a local
// repository change (fsnotify), so a commit is noticed within a second.
//
// It does not know what the files mean (package config), how they reach
// hosts (package deploy) or when to apply them (the agent). Consumers in
// the same layer declare the small interface they need with standard
// library types (deploy.Repo) and cmd/cl wires a *WorkTree into them.
package sync
