package systemd

import (
	"fmt"
	"strings"
)

// Limits systemd puts on paths and unit names (PATH_MAX, NAME_MAX and
// UNIT_NAME_MAX, which counts the terminating NUL).
const (
	pathMax     = 4096
	nameMax     = 255
	unitNameMax = 256
)

// EscapePath escapes an absolute path the way systemd names units after
// paths, exactly as `systemd-escape --path` does (unit_name_path_escape):
// the path is simplified (repeated slashes, "." components and a trailing
// slash dropped), "/" becomes "-", the leading and trailing slashes go, and
// every byte other than ASCII letters, digits, ':', '_' and '.' becomes
// \xNN (lower-case hex), as does a leading '.'. The root is "-".
//
// A path with a ".." component, an empty component longer than 255 bytes,
// or 4096 bytes or more cannot be escaped reversibly; systemd refuses it,
// and so does EscapePath.
func EscapePath(path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("escape %q: not an absolute path", path)
	}
	if len(path) >= pathMax {
		return "", fmt.Errorf("escape %.40q…: path of %d bytes, longer than PATH_MAX", path, len(path))
	}
	var parts []string
	for _, c := range strings.Split(path, "/") {
		switch {
		case c == "" || c == ".":
		case c == "..":
			return "", fmt.Errorf("escape %q: not a normalized path (it has a \"..\" component)", path)
		case len(c) > nameMax:
			return "", fmt.Errorf("escape %.40q…: a component of %d bytes, longer than NAME_MAX", path, len(c))
		default:
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return "-", nil
	}
	s := strings.Join(parts, "/")
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c == '.' && i == 0:
			escapeByte(&b, c) // no unit name starts with '.' ("/.snapshots")
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_', c == '.':
			b.WriteByte(c)
		default:
			escapeByte(&b, c)
		}
	}
	return b.String(), nil
}

func escapeByte(b *strings.Builder, c byte) {
	const hex = "0123456789abcdef"
	b.WriteString(`\x`)
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&15])
}

// MountUnitName is the name of the mount unit for the mount point path, as
// `systemd-escape --path --suffix=mount PATH` prints it: "srv-media.mount"
// for /srv/media, "-.mount" for /.
//
// systemd names the mount unit of a path whose escaped name would be 256
// bytes or longer by a hash of the path instead; MountUnitName refuses
// such a path rather than guess.
func MountUnitName(path string) (string, error) {
	e, err := EscapePath(path)
	if err != nil {
		return "", fmt.Errorf("mount unit name: %w", err)
	}
	name := e + ".mount"
	if len(name) >= unitNameMax {
		return "", fmt.Errorf("mount unit name for %.40q…: %d bytes escaped, too long for a unit name (systemd hashes such names)", path, len(name))
	}
	return name, nil
}

// UnescapePath reverses EscapePath (systemd's unit_name_path_unescape) for
// a name without its type suffix: "srv-media" is /srv/media, "-" is /.
func UnescapePath(name string) (string, error) {
	if name == "-" {
		return "/", nil
	}
	if name == "" || strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") || strings.Contains(name, "--") {
		return "", fmt.Errorf("unescape %q: not an escaped path", name)
	}
	var b strings.Builder
	b.WriteByte('/')
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-':
			b.WriteByte('/')
		case c == '\\':
			if i+4 > len(name) || name[i+1] != 'x' {
				return "", fmt.Errorf("unescape %q: bad escape at byte %d", name, i)
			}
			hi, ok1 := unhex(name[i+2])
			lo, ok2 := unhex(name[i+3])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("unescape %q: bad escape at byte %d", name, i)
			}
			b.WriteByte(hi<<4 | lo)
			i += 3
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
