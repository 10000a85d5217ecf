package activity

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzProcessMatch reads /proc/<pid>/comm and cmdline as any local user can
// set them. It must not panic, and it matches only a configured name: the
// command name (cut to 15 bytes by the kernel) or argv[0]'s base name.
func FuzzProcessMatch(f *testing.F) {
	f.Add([]byte("rsync\n"), []byte("/usr/bin/rsync\x00-a\x00/srv\x00"))
	f.Add([]byte("unattended-upgr\n"), []byte("/usr/bin/python3\x00/usr/bin/unattended-upgrade\x00"))
	f.Add([]byte("bash\n"), []byte("borg\x00create\x00"))
	f.Add([]byte(""), []byte(""))
	f.Add([]byte("kworker/0:1\n"), []byte{})
	base := f.TempDir()
	p := &Processes{Names: DefaultProcesses}
	f.Fuzz(func(t *testing.T, comm, cmdline []byte) {
		dir, err := os.MkdirTemp(base, "pid")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		os.WriteFile(filepath.Join(dir, "comm"), comm, 0o644)
		os.WriteFile(filepath.Join(dir, "cmdline"), cmdline, 0o644)
		name, ok, err := p.match(dir)
		if err != nil {
			t.Fatalf("match: %v", err)
		}
		if !ok {
			return
		}
		if !slices.Contains(p.Names, name) {
			t.Fatalf("matched %q, which is not configured", name)
		}
		c := strings.TrimSuffix(string(comm), "\n")
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		if c != name && c != name[:min(15, len(name))] && filepath.Base(string(argv0)) != name {
			t.Fatalf("comm %q, argv0 %q matched %q", comm, argv0, name)
		}
	})
}
