package usbdisk

import (
	"reflect"
	"strings"
	"testing"
)

const sampleMountinfo = `22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw
23 22 179:1 / /boot/firmware rw,relatime shared:2 - vfat /dev/mmcblk0p1 rw,fmask=0022
41 22 8:1 / /srv/media\040library rw,noatime shared:20 master:3 - ext4 /dev/sda1 rw
42 22 8:1 /films /var/lib/jellyfin/films rw,noatime - ext4 /dev/sda1 rw
43 22 0:25 / /tmp rw,nosuid - tmpfs tmpfs rw,size=100k
`

func TestParseMountinfo(t *testing.T) {
	got, err := ParseMountinfo(strings.NewReader(sampleMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("got %d mounts, want 5", len(got))
	}
	want := Mount{ID: 41, Parent: 22, Major: 8, Minor: 1, Root: "/", MountPoint: "/srv/media library",
		Options: "rw,noatime", Optional: []string{"shared:20", "master:3"}, FSType: "ext4", Source: "/dev/sda1", SuperOptions: "rw"}
	if !reflect.DeepEqual(got[2], want) {
		t.Errorf("mount 3:\n got %+v\nwant %+v", got[2], want)
	}
	if got[4].Optional != nil || got[4].FSType != "tmpfs" || got[4].DevNo() != "0:25" {
		t.Errorf("tmpfs line: %+v", got[4])
	}
	m, ok := MountOf(got, "8:1")
	if !ok || m.MountPoint != "/srv/media library" {
		t.Errorf("MountOf(8:1) = %+v, %v; want the filesystem root, not the bind mount", m, ok)
	}
	if n := len(MountsOf(got, "8:1")); n != 2 {
		t.Errorf("MountsOf(8:1): %d mounts, want 2", n)
	}
	if _, ok := MountOf(got, "8:17"); ok {
		t.Error("MountOf found an unmounted device")
	}
}

func TestParseMountinfoErrors(t *testing.T) {
	for _, bad := range []string{
		"22 1 179:2 / / rw",                     // no separator
		"x 1 179:2 / / rw - ext4 /dev/root rw",  // id
		"22 1 1792 / / rw - ext4 /dev/root rw",  // dev
		"22 1 179:2 / / rw shared:1 - ext4",     // missing source
		"22 1 179:x / / rw - ext4 /dev/root rw", // minor
	} {
		if _, err := ParseMountinfo(strings.NewReader(bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err = %v, want a line 1 error", bad, err)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:     "/a b",
		`/a\134b`:     `/a\b`,
		`/tab\011x`:   "/tab\tx",
		`/not\08`:     `/not\08`,
		`/end\04`:     `/end\04`,
		`/big\777`:    `/big\777`,
		`/plain/path`: "/plain/path",
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add(sampleMountinfo)
	f.Add("1 2 3:4 / / - - - -\n")
	f.Add(`36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`)
	f.Fuzz(func(t *testing.T, s string) {
		mounts, err := ParseMountinfo(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range mounts {
			if m.FSType == "" && m.Source == "" && m.MountPoint == "" {
				t.Errorf("empty mount accepted from %q", s)
			}
		}
	})
}
