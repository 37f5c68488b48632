package main

// ClusterStatusCmd is `cl cluster status`.
type ClusterStatusCmd struct{}
