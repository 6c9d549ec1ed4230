// Package bundle reads OPA bundles for the standalone agent and the axon
// CLI: a directory, a .tar.gz as `opa build` makes it, or an OPA bundle
// service over HTTP polled with ETags (If-None-Match, 304 Not Modified), as
// OPA itself polls. Bundles are parsed by OPA's own bundle package. Their
// .rego modules and data join a policy directory's (Bundle.Extra for
// source.Load): a policy names a bundle module in spec.rego.file by its path
// in the bundle, every module is also compiled in its own package (so
// modules may import each other), and the data is readable as data.<key>.
// A source whose update does not load keeps its last good bundle (Watcher).
package bundle
