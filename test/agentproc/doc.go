// Package agentproc runs the real axon-agent binary for end-to-end tests:
// it builds the binary once, starts agents on a policy folder with their own
// pin directories, waits for /readyz, scrapes /metrics, and kills and
// cleans up after each test.
package agentproc
