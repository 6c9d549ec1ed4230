package probe

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// KernelVersion returns the running kernel's major and minor version and its release.
func KernelVersion() (major, minor int, release string, err error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return 0, 0, "", fmt.Errorf("uname: %w", err)
	}
	release = unix.ByteSliceToString(uts.Release[:])
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		return 0, 0, release, fmt.Errorf("parsing kernel release %q: %w", release, err)
	}
	return major, minor, release, nil
}

// AtLeast reports whether major.minor is at least want.
func AtLeast(major, minor, wantMajor, wantMinor int) bool {
	return major > wantMajor || (major == wantMajor && minor >= wantMinor)
}
