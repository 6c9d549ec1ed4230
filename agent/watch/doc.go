// Package watch follows a policy directory (inotify, with a slow content
// poll as a safety net) and reports when its contents have changed and
// settled, so the agent reloads within milliseconds of a change.
package watch
