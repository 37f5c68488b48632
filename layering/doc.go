// Package layering holds no code: its test enforces the project's
// ownership rules over the imports of every non-test package (see
// docs/development.md and DESIGN's "one owner per outside system"): only
// queue and the packages under it import go-redis, only sync imports go-git.
package layering
