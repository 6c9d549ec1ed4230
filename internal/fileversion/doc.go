// Package fileversion names a version of a file by its status (device,
// inode, size, modification and change times), so that a reader can skip
// reading again a file it has read in that version. The policy loader's
// cache (policy/source) and the folder watcher (agent/watch) share it.
package fileversion
