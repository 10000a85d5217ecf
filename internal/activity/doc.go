// Package activity holds the checks that postpone sleep: someone is using
// the server, or something must not be interrupted.
//
// Each check is optional and configured by a plain struct; the agent builds
// the ones the configuration asks for and runs them in a Set:
//
//	connections  established TCP connections to given local ports (SMB 445,
//	             Plex 32400, Jellyfin 8096, Gitea 3000, SSH 22), on the host
//	             and inside container network namespaces
//	network      throughput over all interfaces but lo and excluded ones
//	disk-io      sectors read and written per second (partition counters)
//	load         the 1, 5 or 15 minute load average
//	processes    named processes: rsync, borg, restic, apt, dpkg...
//	sessions     logged-in users, through logind
//	inhibitors   block inhibitor locks on shutdown, sleep or idle, through logind
//	smart        a SMART self-test in progress (smartctl, without waking a disk)
//	command      a program of the user: exit status 0 means active
//
// Every kernel path hangs off a Root ("" is "/"): Root+"/proc/net/tcp",
// Root+"/sys/class/net", so tests and the simulated world run the same code
// over a directory tree. The parsers of kernel files take an io.Reader and
// have fuzz targets.
//
// A check that fails counts as active (see Set.Run): a broken check must not
// let the server sleep while it may be in use, and its error, shown as the
// reason the server stays awake, tells the user what to fix. A check that
// cannot work on this machine (smartctl missing) is unavailable instead: said
// once, then ignored.
package activity
