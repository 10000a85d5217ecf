package systemd

import (
	"math/rand"
	"os/exec"
	"path"
	"strings"
	"testing"
)

// Cases from systemd's own documentation (systemd-escape(1), systemd.unit(5),
// systemd.mount(5)) and, past those, outputs of systemd 252's
// `systemd-escape --path --suffix=mount`.
var escapeCases = []struct{ path, unit string }{
	// systemd-escape(1): `systemd-escape -p --suffix=mount "/tmp//waldi/foobar/"`.
	{"/tmp//waldi/foobar/", "tmp-waldi-foobar.mount"},
	// systemd-escape(1): `systemd-escape 'Hallöchen, Meister'`.
	{"/Hallöchen, Meister", `Hall\xc3\xb6chen\x2c\x20Meister.mount`},
	// systemd.unit(5): "/foo//bar/baz/" is "foo-bar-baz"; the root is "-".
	{"/foo//bar/baz/", "foo-bar-baz.mount"},
	{"/", "-.mount"},
	// systemd.mount(5): the mount point /home/lennart is home-lennart.mount.
	{"/home/lennart", "home-lennart.mount"},
	// systemd 252.
	{"/srv/media", "srv-media.mount"},
	{"//", "-.mount"},
	{"/.", "-.mount"},
	{"/x/./y", "x-y.mount"},
	{"/x/.", "x.mount"},
	{"/a/", "a.mount"},
	{"/.dot/x", `\x2edot-x.mount`},
	{"/a/.hidden", "a-.hidden.mount"},
	{"/a-b/c\\d", `a\x2db-c\x5cd.mount`},
	{"/-", `\x2d.mount`},
	{"/a:b_c.d", "a:b_c.d.mount"},
	{"/mnt/x y", `mnt-x\x20y.mount`},
	{"/1abc", "1abc.mount"},
	{"/a/x\ty/\xff", `a-x\x09y-\xff.mount`},
	{"/srv/dev-disk-by-uuid-3f2a", `srv-dev\x2ddisk\x2dby\x2duuid\x2d3f2a.mount`},
	{"/" + strings.Repeat("a", 249), strings.Repeat("a", 249) + ".mount"},
}

func TestMountUnitName(t *testing.T) {
	t.Parallel()
	for _, tc := range escapeCases {
		got, err := MountUnitName(tc.path)
		if err != nil || got != tc.unit {
			t.Errorf("MountUnitName(%q) = %q, %v; want %q", tc.path, got, err, tc.unit)
		}
	}
}

func TestMountUnitNameRefuses(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		"",
		"relative/path",
		"/x/../y",                        // systemd: not a normalized path
		"/x/" + strings.Repeat("a", 256), // a component longer than NAME_MAX
		"/" + strings.Repeat("a/", 2048), // PATH_MAX
		"/" + strings.Repeat("a", 250),   // 256 bytes with ".mount": systemd would hash it
	} {
		if got, err := MountUnitName(p); err == nil {
			t.Errorf("MountUnitName(%.50q) = %q, want an error", p, got)
		}
	}
}

func TestUnescapePath(t *testing.T) {
	t.Parallel()
	for _, tc := range escapeCases {
		got, err := UnescapePath(strings.TrimSuffix(tc.unit, ".mount"))
		if err != nil || got != path.Clean(tc.path) {
			t.Errorf("UnescapePath(%q) = %q, %v; want %q", tc.unit, got, err, path.Clean(tc.path))
		}
	}
	for _, bad := range []string{"", "a--b", "-a", "a-", `a\x2`, `a\y20`, `a\xzz`} {
		if got, err := UnescapePath(bad); err == nil {
			t.Errorf("UnescapePath(%q) = %q, want an error", bad, got)
		}
	}
}

// TestMountUnitNameMatchesSystemdEscape compares with the machine's own
// systemd-escape over random paths made of the characters that matter.
func TestMountUnitNameMatchesSystemdEscape(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("systemd-escape")
	if err != nil {
		t.Skip("systemd-escape not installed")
	}
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{"a", "Z", "0", "-", "_", ".", ":", "\\", " ", "/", "//", "/.", "é", "\x01", "\x7f", "\xff", "x"}
	var paths []string
	for len(paths) < 200 {
		var b strings.Builder
		b.WriteByte('/')
		for n := rng.Intn(12); n > 0; n-- {
			b.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		p := b.String()
		if strings.Contains("/"+p+"/", "/../") {
			continue
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(bin, append([]string{"--path", "--suffix=mount", "--"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("systemd-escape: %v", err)
	}
	// systemd-escape prints its answers separated by spaces; none of
	// them contains one (a space is \x20).
	want := strings.Fields(string(out))
	if len(want) != len(paths) {
		t.Fatalf("systemd-escape gave %d names for %d paths", len(want), len(paths))
	}
	for i, p := range paths {
		if got, err := MountUnitName(p); err != nil || got != want[i] {
			t.Errorf("MountUnitName(%q) = %q, %v; systemd-escape says %q", p, got, err, want[i])
		}
	}
}

func FuzzMountUnitName(f *testing.F) {
	for _, tc := range escapeCases {
		f.Add(tc.path)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name, err := MountUnitName(p)
		if err != nil {
			return
		}
		if !strings.HasSuffix(name, ".mount") || len(name) > 255 || strings.HasPrefix(name, ".") {
			t.Fatalf("MountUnitName(%q) = %q: not a valid unit name", p, name)
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(`:-_.\`, c) >= 0) {
				t.Fatalf("MountUnitName(%q) = %q: byte %#x is not allowed in a unit name", p, name, c)
			}
		}
		back, err := UnescapePath(strings.TrimSuffix(name, ".mount"))
		if err != nil {
			t.Fatalf("UnescapePath(%q) of %q: %v", name, p, err)
		}
		if back != path.Clean(p) {
			t.Fatalf("MountUnitName(%q) = %q, unescaped %q, want %q", p, name, back, path.Clean(p))
		}
	})
}
