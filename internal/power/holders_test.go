package power

import (
	"strings"
	"testing"

	"github.com/veille/veille/drivers/usbdisk/usbdisktest"
)

func TestHolders(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.OpenFile(1234, "jellyfin", 3, "/srv/media/film.mkv")
	tr.OpenFile(1234, "jellyfin", 4, "/var/log/jellyfin.log")
	tr.OpenFile(1234, "jellyfin", 5, "socket:[4242]")
	tr.OpenFile(77, "rsync", 9, "/srv/media/old.mkv (deleted)")
	tr.OpenFile(80, "other", 1, "/srv/media2/x")
	tr.Cwd(99, "bash", "/srv/media/series")
	tr.Write("/proc/self/comm", "veille\n") // not a pid

	hs, err := Holders(tr.Root, "/srv/media")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hs {
		got = append(got, h.String())
	}
	want := []string{
		"open by rsync (pid 77): /srv/media/old.mkv (deleted)",
		"working directory of bash (pid 99): /srv/media/series",
		"open by jellyfin (pid 1234): /srv/media/film.mkv",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("holders:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := describeHolders(append(hs, hs...)); !strings.HasSuffix(d, "; and 1 more") {
		t.Errorf("describeHolders of 6: %q", d)
	}
	if hs, err := Holders(tr.Root, "/srv/photos"); err != nil || len(hs) != 0 {
		t.Errorf("nothing under /srv/photos: %v, %v", hs, err)
	}
}
