package sim

import (
	"fmt"
	"os"
	"path"
	"strings"
	"time"
)

// mount is one line of mountinfo.
type mount struct {
	id, parent int
	devNo      string // major:minor
	target     string // root-relative, "/srv/media"
	opts       string
	optional   string
	fstype     string
	source     string
	super      string
	part       *partition // nil for the system's own mounts
}

// rel turns a path veille passes (Root-prefixed or not) into a path inside
// the world ("/srv/media").
func (w *World) rel(p string) string {
	if p == w.root {
		return "/"
	}
	if r, ok := strings.CutPrefix(p, w.root+"/"); ok {
		p = "/" + r
	}
	return path.Clean("/" + p)
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// mountAt returns the mount whose target is exactly t (the last one stacked).
func (w *World) mountAt(t string) *mount {
	for i := len(w.mounts) - 1; i >= 0; i-- {
		if w.mounts[i].target == t {
			return w.mounts[i]
		}
	}
	return nil
}

// partitionBySource resolves a mount source: "/dev/sda1" (with or without
// Root), "/dev/disk/by-uuid/…", "/dev/disk/by-label/…", "UUID=…", "LABEL=…".
func (w *World) partitionBySource(src string) (*partition, error) {
	var match func(p *partition) bool
	switch {
	case strings.HasPrefix(src, "UUID="):
		u := strings.TrimPrefix(src, "UUID=")
		match = func(p *partition) bool { return strings.EqualFold(p.o.UUID, u) }
	case strings.HasPrefix(src, "LABEL="):
		l := strings.TrimPrefix(src, "LABEL=")
		match = func(p *partition) bool { return p.o.Label == l }
	default:
		r := w.rel(src)
		switch {
		case strings.HasPrefix(r, "/dev/disk/by-uuid/"):
			u := strings.TrimPrefix(r, "/dev/disk/by-uuid/")
			match = func(p *partition) bool { return strings.EqualFold(p.o.UUID, u) }
		case strings.HasPrefix(r, "/dev/disk/by-label/"):
			l := decodeLabel(strings.TrimPrefix(r, "/dev/disk/by-label/"))
			match = func(p *partition) bool { return p.o.Label == l }
		case strings.HasPrefix(r, "/dev/"):
			n := strings.TrimPrefix(r, "/dev/")
			if d, ok := w.diskBy[n]; ok {
				if !d.present {
					return nil, errNoEnt
				}
				return nil, errInvalid // a whole disk with no filesystem on it
			}
			match = func(p *partition) bool { return p.name == n }
		default:
			return nil, errNoEnt
		}
	}
	for _, d := range w.disks {
		for _, p := range d.parts {
			if match(p) {
				if !d.present {
					return nil, errNoEnt
				}
				return p, nil
			}
		}
	}
	return nil, errNoEnt
}

// Mount mounts a partition of a simulated disk, as mount(2) would: the
// source must be present (ENOENT), the target an existing directory under
// Root (ENOENT) that is not already a mount point (EBUSY), and fstype the
// partition's (EINVAL). Reading the superblock spins a sleeping disk up.
// Paths may be given with or without the Root prefix.
func (w *World) Mount(source, target, fstype, options string) error {
	at := w.lock()
	defer w.unlock()
	fail := func(err error) error {
		return fmt.Errorf("sim: mount %s on %s: %w", source, target, err)
	}
	if w.board.state != BoardRunning {
		return fail(fmt.Errorf("the board is %s", w.board.state))
	}
	p, err := w.partitionBySource(source)
	if err != nil {
		return fail(err)
	}
	t := w.rel(target)
	if st, err := os.Stat(w.Path(t)); err != nil || !st.IsDir() {
		return fail(errNoEnt)
	}
	if w.mountAt(t) != nil {
		return fail(errBusy)
	}
	for _, m := range w.mounts {
		if m.part == p {
			return fail(errBusy)
		}
	}
	if fstype != p.o.FSType {
		return fail(errInvalid)
	}
	if options == "" {
		options = "rw,relatime"
	}
	w.mountLocked(at, p, t, options)
	return w.render(false)
}

func (w *World) mountLocked(at time.Time, p *partition, target, options string) {
	parent := 0
	best := ""
	for _, m := range w.mounts {
		if under(target, m.target) && len(m.target) >= len(best) {
			parent, best = m.id, m.target
		}
	}
	w.mountID++
	w.mounts = append(w.mounts, &mount{
		id: w.mountID, parent: parent, devNo: fmt.Sprintf("%d:%d", p.d.major(), p.minor),
		target: target, opts: options, optional: fmt.Sprintf("shared:%d", w.mountID-10),
		fstype: p.o.FSType, source: "/dev/" + p.name, super: "rw", part: p,
	})
	_ = os.MkdirAll(w.Path(target), 0o755)
	w.diskTouch(at, p.d, false)
	w.log.Info("sim: mounted", "source", "/dev/"+p.name, "target", target, "at", at)
}

// Unmount unmounts target as umount(2) would (never forced): EINVAL if it is
// not a mount point, EBUSY while a file under it is open (a running unit's
// or one from Open), a mount is stacked inside it, or it is a system mount.
// The final flush writes to the disk, spinning it up if it was asleep.
func (w *World) Unmount(target string) error {
	at := w.lock()
	defer w.unlock()
	t := w.rel(target)
	fail := func(err error) error { return fmt.Errorf("sim: unmount %s: %w", target, err) }
	if w.board.state != BoardRunning {
		return fail(fmt.Errorf("the board is %s", w.board.state))
	}
	m := w.mountAt(t)
	if m == nil {
		return fail(errInvalid)
	}
	if m.part == nil {
		return fail(errBusy)
	}
	if holder := w.holder(t); holder != "" {
		w.log.Info("sim: unmount refused, file open", "target", t, "holder", holder)
		return fail(errBusy)
	}
	for _, o := range w.mounts {
		if o != m && o.target != t && under(o.target, t) {
			return fail(errBusy)
		}
	}
	w.unmountLocked(at, m)
	return w.render(false)
}

// holder names something keeping a file open under dir, or "".
func (w *World) holder(dir string) string {
	for _, f := range w.files {
		if under(f.Path, dir) {
			return f.Process + " " + f.Path
		}
	}
	for _, u := range w.units {
		if !u.active {
			continue
		}
		for _, h := range u.o.Holds {
			if under(w.rel(h), dir) {
				return u.o.Name + " " + h
			}
		}
	}
	return ""
}

func (w *World) unmountLocked(at time.Time, m *mount) {
	for i, o := range w.mounts {
		if o == m {
			w.mounts = append(w.mounts[:i], w.mounts[i+1:]...)
			break
		}
	}
	if m.part != nil && m.part.d.present {
		w.diskTouch(at, m.part.d, true)
	}
	w.log.Info("sim: unmounted", "target", m.target, "at", at)
}

// mountFstab mounts every fstab partition whose disk is present (nofail).
func (w *World) mountFstab(at time.Time) {
	for _, d := range w.disks {
		for _, p := range d.parts {
			if p.o.MountPoint == "" || w.mountAt(p.o.MountPoint) != nil {
				continue
			}
			if !d.present {
				w.log.Info("sim: fstab entry skipped, disk not present (nofail)", "disk", d.o.Name, "mount", p.o.MountPoint)
				continue
			}
			opts := p.o.Options
			if opts == "" {
				opts = "rw,noatime"
			}
			w.mountLocked(at, p, p.o.MountPoint, opts)
		}
	}
}

// Mounted reports whether something is mounted at target.
func (w *World) Mounted(target string) bool {
	w.lock()
	defer w.unlock()
	return w.mountAt(w.rel(target)) != nil
}

// OpenFile is a file a simulated process holds open: the mount it lives on
// cannot be unmounted until it is closed. It shows as a /proc/<pid>/fd link.
type OpenFile struct {
	w       *World
	Path    string
	Process string
	pid     int
	closed  bool
}

// Open makes a process named process hold path (inside the world) open.
func (w *World) Open(p, process string) *OpenFile {
	w.lock()
	defer w.unlock()
	w.pids++
	f := &OpenFile{w: w, Path: w.rel(p), Process: process, pid: w.pids}
	w.files = append(w.files, f)
	_ = w.render(false)
	return f
}

// Close releases the file.
func (f *OpenFile) Close() {
	w := f.w
	w.lock()
	defer w.unlock()
	if f.closed {
		return
	}
	f.closed = true
	for i, o := range w.files {
		if o == f {
			w.files = append(w.files[:i], w.files[i+1:]...)
			break
		}
	}
	_ = w.render(false)
}

// decodeLabel undoes udev's \xNN escaping of /dev/disk/by-label names.
func decodeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			var c byte
			if _, err := fmt.Sscanf(s[i+2:i+4], "%02x", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// encodeLabel is udev's escaping of a label for /dev/disk/by-label.
func encodeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("#+-.:=@_", c) >= 0 || c >= 0x80 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}
