package usbdisk

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mount is one line of /proc/<pid>/mountinfo (proc(5)).
type Mount struct {
	ID, Parent   int
	Major, Minor uint32 // st_dev of the filesystem
	Root         string // path of the mount's root inside its filesystem
	MountPoint   string // as seen in the reader's mount namespace
	Options      string // per-mount options
	Optional     []string
	FSType       string
	Source       string
	SuperOptions string
}

// DevNo is "major:minor", the form sysfs uses in its dev files.
func (m Mount) DevNo() string { return fmt.Sprintf("%d:%d", m.Major, m.Minor) }

// ParseMountinfo reads the mountinfo format. Octal escapes (\040 for a
// space) in paths are decoded.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		m, err := parseMountLine(text)
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", line, err)
		}
		mounts = append(mounts, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	return mounts, nil
}

func parseMountLine(text string) (Mount, error) {
	var m Mount
	f := strings.Fields(text)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 7 || sep < 0 || len(f) < sep+3 {
		return m, fmt.Errorf("want at least 10 fields with a \"-\" separator, got %q", text)
	}
	var err error
	if m.ID, err = strconv.Atoi(f[0]); err != nil {
		return m, fmt.Errorf("mount id: %w", err)
	}
	if m.Parent, err = strconv.Atoi(f[1]); err != nil {
		return m, fmt.Errorf("parent id: %w", err)
	}
	maj, min, ok := strings.Cut(f[2], ":")
	if !ok {
		return m, fmt.Errorf("device %q: want major:minor", f[2])
	}
	ma, err := strconv.ParseUint(maj, 10, 32)
	if err != nil {
		return m, fmt.Errorf("device major: %w", err)
	}
	mi, err := strconv.ParseUint(min, 10, 32)
	if err != nil {
		return m, fmt.Errorf("device minor: %w", err)
	}
	m.Major, m.Minor = uint32(ma), uint32(mi)
	m.Root = unescapeOctal(f[3])
	m.MountPoint = unescapeOctal(f[4])
	m.Options = f[5]
	if sep > 6 {
		m.Optional = append([]string(nil), f[6:sep]...)
	}
	m.FSType = unescapeOctal(f[sep+1])
	m.Source = unescapeOctal(f[sep+2])
	if len(f) > sep+3 {
		m.SuperOptions = f[sep+3]
	}
	return m, nil
}

// unescapeOctal decodes the kernel's \ooo escapes (space, tab, newline,
// backslash) and leaves anything else as it is.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && isOctal(s[i+1:]) {
			v, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) < 3 {
		return false
	}
	for _, c := range s[:3] {
		if c < '0' || c > '7' {
			return false
		}
	}
	return s[0] <= '3' // \377 is the largest byte
}

// ReadMounts parses <root>/proc/self/mountinfo.
func ReadMounts(root string) ([]Mount, error) {
	p := filepath.Join(root, "proc/self/mountinfo")
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	m, err := ParseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, nil
}

// MountOf returns the first mount of the filesystem with device number
// devNo ("8:1") whose root is the filesystem's root, so a bind mount of a
// subdirectory is not mistaken for the filesystem's home.
func MountOf(mounts []Mount, devNo string) (Mount, bool) {
	var bind *Mount
	for i, m := range mounts {
		if m.DevNo() != devNo {
			continue
		}
		if m.Root == "/" {
			return m, true
		}
		if bind == nil {
			bind = &mounts[i]
		}
	}
	if bind != nil {
		return *bind, true
	}
	return Mount{}, false
}

// MountsOf returns every mount (bind mounts included) of device devNo.
func MountsOf(mounts []Mount, devNo string) []Mount {
	var out []Mount
	for _, m := range mounts {
		if m.DevNo() == devNo {
			out = append(out, m)
		}
	}
	return out
}
