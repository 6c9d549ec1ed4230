// Package promserver runs a real Prometheus server (Debian's `prometheus`
// package, the binary run directly with a temporary configuration and
// storage, never the system service) for tests: it scrapes the given
// targets every second and answers queries through its HTTP API.
package promserver
