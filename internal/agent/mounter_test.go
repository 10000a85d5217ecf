package agent

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/veille/veille/internal/config"
	"github.com/veille/veille/internal/power"
	"github.com/veille/veille/systemd"
	"github.com/veille/veille/systemd/dbustest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The default mounter is systemd's mount units when systemd answers, and
// a disk that could not be mounted again (no fstab entry, a systemd that
// does not name transient units to polkit) is warned about at start.
func TestDefaultMounterThroughSystemd(t *testing.T) {
	t.Parallel()
	env := dbustest.New(t)
	for _, u := range []dbustest.Unit{
		{Name: "srv-media.mount", Where: "/srv/media", What: "/dev/sda1"}, // mounted by hand
		{Name: "srv-backup.mount", Where: "/srv/backup", What: "/dev/disk/by-label/backup",
			FragmentPath: "/run/systemd/generator/srv-backup.mount", SourcePath: "/etc/fstab"},
	} {
		if err := env.Systemd.AddUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	m, err := systemd.DialManager(context.Background(), systemd.Options{Address: env.Address()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var logs lockedBuffer
	a := &Agent{cfg: &config.Config{}, log: slog.New(slog.NewTextHandler(&logs, nil)), hw: Hardware{Units: m}}
	disks := []power.Disk{
		{Name: "media", UUID: "u1", MountPoint: "/srv/media", FSType: "ext4"},
		{Name: "backup", Label: "backup", MountPoint: "/srv/backup", FSType: "ext4"},
	}
	mounter, ok := a.defaultMounter(disks).(unitMounter)
	if !ok {
		t.Fatalf("default mounter with systemd on the bus: %T", a.defaultMounter(disks))
	}
	a.checkMountUnits(mounter.ms, disks)
	out := logs.String()
	if !strings.Contains(out, "no fstab entry or mount unit for this disk") || !strings.Contains(out, "disk=media") || strings.Contains(out, "disk=backup") {
		t.Errorf("warnings with systemd 252:\n%s", out)
	}
	env.Systemd.SetVersion("257.1")
	before := len(logs.String())
	a.checkMountUnits(mounter.ms, disks)
	if more := logs.String()[before:]; more != "" {
		t.Errorf("warnings with systemd 257:\n%s", more)
	}

	// The adapter reaches systemd: unmount stops the unit, mount makes a
	// transient one (the fake systemd has no polkit).
	if err := mounter.Unmount("/srv/media"); err != nil {
		t.Fatal(err)
	}
	if err := mounter.Mount("/dev/sda1", "/srv/media", "ext4", "rw,noatime"); err != nil {
		t.Fatal(err)
	}
	if u, _ := env.Systemd.Unit("srv-media.mount"); !u.Transient || u.ActiveState != "active" || u.Options != "rw,noatime" {
		t.Errorf("after unmount and mount: %+v", u)
	}
}

func TestDefaultMounterWithoutSystemd(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	a := &Agent{cfg: &config.Config{}, log: slog.New(slog.NewTextHandler(&logs, nil))}
	if m := a.defaultMounter([]power.Disk{{Name: "media", UUID: "u1"}}); m != (power.SystemMounter{}) {
		t.Errorf("default mounter without systemd: %T", m)
	}
	if !strings.Contains(logs.String(), "disks are mounted with mount(2)") {
		t.Errorf("no warning:\n%s", logs.String())
	}
}
