package activity

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func seed(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseTCP(f *testing.F) {
	seed(f, "tcp", "tcp6")
	f.Add([]byte("   0: 0100007F:0BB8 00000000:0000 0A\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		socks, err := ParseTCP(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, s := range socks {
			if !s.Local.Addr().IsValid() || !s.Remote.Addr().IsValid() {
				t.Fatalf("invalid address in %+v", s)
			}
			if s.Local.Addr().Is4() != s.Remote.Addr().Is4() {
				t.Fatalf("mixed families in %+v", s)
			}
		}
	})
}

func FuzzParseDiskstats(f *testing.F) {
	seed(f, "diskstats")
	f.Add([]byte("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		stats, err := ParseDiskstats(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, s := range stats {
			if s.Name == "" || strings.ContainsAny(s.Name, " \t\n") {
				t.Fatalf("bad name %q", s.Name)
			}
		}
	})
}

func FuzzParseLoadavg(f *testing.F) {
	seed(f, "loadavg")
	f.Add([]byte("1e3 0x10 Inf 1/1 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		avg, err := ParseLoadavg(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, v := range avg {
			if v < 0 || v != v {
				t.Fatalf("load average %v", v)
			}
		}
	})
}

func FuzzParseCounter(f *testing.F) {
	f.Add([]byte("123456789\n"))
	f.Add([]byte("18446744073709551615"))
	f.Add([]byte("-1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseCounter(bytes.NewReader(b))
		if err == nil && strings.TrimSpace(string(b[:min(len(b), 64)])) == "" {
			t.Fatalf("empty input gave %d", v)
		}
	})
}

func FuzzParseSelfTest(f *testing.F) {
	seed(f, "smartctl/ata-running", "smartctl/ata-idle", "smartctl/nvme-running", "smartctl/nvme-idle", "smartctl/scsi-running", "smartctl/standby")
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseSelfTest(bytes.NewReader(b))
		if err != nil {
			return
		}
		if st.Remaining != "" && (!st.Running || !strings.HasSuffix(st.Remaining, "%")) {
			t.Fatalf("%+v", st)
		}
	})
}
