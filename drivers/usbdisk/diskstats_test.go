package usbdisk

import (
	"strings"
	"testing"
)

func TestParseDiskstats(t *testing.T) {
	in := `   8       0 sda 1200 10 96000 300 40 5 800 90 0 400 390
   8       1 sda1 1100 10 88000 280 40 5 800 90 0 380 370 7 0 56 1
   8      16 sdb 5 0 40 1 0 0 0 0 0 1 1 0 0 0 0 9 2
 179       2 mmcblk0p2 10 20 30 40
`
	got, err := ParseDiskstats(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []DiskStat{
		{Major: 8, Minor: 0, Name: "sda", Reads: 1200, SectorsRead: 96000, Writes: 40, SectorsWritten: 800},
		{Major: 8, Minor: 1, Name: "sda1", Reads: 1100, SectorsRead: 88000, Writes: 40, SectorsWritten: 800, Discards: 7},
		{Major: 8, Minor: 16, Name: "sdb", Reads: 5, SectorsRead: 40, Flushes: 9},
		{Major: 179, Minor: 2, Name: "mmcblk0p2", Reads: 10, SectorsRead: 20, Writes: 30, SectorsWritten: 40},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %+v\nwant %+v", i+1, got[i], want[i])
		}
	}
}

func TestParseDiskstatsErrors(t *testing.T) {
	for _, bad := range []string{
		"8 0 sda 1 2 3",
		"8 0 sda 1 2 3 4 5 6 7 8 9 10 x",
		"a 0 sda 1 2 3 4 5 6 7 8 9 10 11",
		"8 0 sda 1 2 3 4 5 6 7 8 9 10 -1",
	} {
		if _, err := ParseDiskstats(strings.NewReader("\n" + bad)); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: err = %v, want a line 2 error", bad, err)
		}
	}
}

func FuzzParseDiskstats(f *testing.F) {
	f.Add("   8       0 sda 1200 10 96000 300 40 5 800 90 0 400 390\n")
	f.Add("179 2 mmcblk0p2 10 20 30 40\n")
	f.Add("8 1 sda1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n")
	f.Fuzz(func(t *testing.T, s string) {
		stats, err := ParseDiskstats(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, st := range stats {
			if st.Name == "" {
				t.Errorf("unnamed device accepted from %q", s)
			}
		}
	})
}
