package activity

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TCPEstablished is the state number of an established connection in
// /proc/net/tcp (include/net/tcp_states.h).
const TCPEstablished = 0x01

// Socket is one line of /proc/net/tcp or /proc/net/tcp6.
type Socket struct {
	Local, Remote netip.AddrPort
	State         uint8
}

// ParseTCP parses a /proc/net/tcp or /proc/net/tcp6 table. The kernel
// prints each 32-bit word of an address as the hexadecimal value of its
// in-memory bytes, so the words are decoded in this machine's byte order.
func ParseTCP(r io.Reader) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || n == 1 && f[0] == "sl" {
			continue
		}
		if len(f) < 4 {
			return nil, fmt.Errorf("tcp table line %d: %d fields, want at least 4", n, len(f))
		}
		local, err := parseHexAddrPort(f[1])
		if err != nil {
			return nil, fmt.Errorf("tcp table line %d: local address: %w", n, err)
		}
		remote, err := parseHexAddrPort(f[2])
		if err != nil {
			return nil, fmt.Errorf("tcp table line %d: remote address: %w", n, err)
		}
		if local.Addr().Is4() != remote.Addr().Is4() {
			return nil, fmt.Errorf("tcp table line %d: local %s and remote %s are not of one address family", n, f[1], f[2])
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("tcp table line %d: state %q: %w", n, f[3], err)
		}
		out = append(out, Socket{Local: local, Remote: remote, State: uint8(st)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tcp table: %w", err)
	}
	return out, nil
}

// parseHexAddrPort parses "0100007F:0016" or its 32-digit IPv6 form.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(p) != 4 || (len(a) != 8 && len(a) != 32) {
		return netip.AddrPort{}, fmt.Errorf("%q is not ADDR:PORT in hexadecimal", s)
	}
	raw, err := hex.DecodeString(a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %w", s, err)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: port: %w", s, err)
	}
	// raw holds the printed digits, most significant first, of each word;
	// the address bytes are each word as it lies in memory.
	addr := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(addr[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	ip, _ := netip.AddrFromSlice(addr)
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// Port is a local TCP port whose established connections mean someone is
// using a service.
type Port struct {
	Number  uint16
	Service string // "ssh"; empty: named from WellKnownPorts, else "port N"
}

// WellKnownPorts names the ports of the services a home server runs.
var WellKnownPorts = map[uint16]string{
	21: "ftp", 22: "ssh", 80: "http", 139: "smb", 443: "https", 445: "smb",
	548: "afp", 873: "rsync", 2049: "nfs", 3000: "gitea", 5000: "dsm",
	8096: "jellyfin", 8920: "jellyfin", 32400: "plex",
}

func (p Port) name() string {
	if p.Service != "" {
		return p.Service
	}
	if s, ok := WellKnownPorts[p.Number]; ok {
		return s
	}
	return "port " + strconv.Itoa(int(p.Number))
}

// Connections is active while a TCP connection to one of Ports is
// established, on the host or, with Containers, inside the network
// namespaces of Docker or Podman containers.
type Connections struct {
	Root  string // "" is "/"
	Ports []Port
	// Containers also scans /proc/<pid>/net/tcp{,6} once per network
	// namespace other than veille's own. Reading another user's
	// /proc/<pid>/ns/net needs CAP_SYS_PTRACE; a denial is an error.
	Containers bool
	// IgnoreLoopback leaves out connections from 127.0.0.0/8 and ::1 (health
	// checks, local tools). A service behind a reverse proxy on the same host
	// is then seen through the proxy's port, not its own.
	IgnoreLoopback bool
}

// Name returns "connections".
func (c *Connections) Name() string { return "connections" }

// Check scans the TCP tables.
func (c *Connections) Check(ctx context.Context, now time.Time) (bool, string, error) {
	if len(c.Ports) == 0 {
		return false, "", nil
	}
	proc := filepath.Join(rootDir(c.Root), "proc")
	var found []string
	scan := func(dir, where string) error {
		for _, name := range []string{"tcp", "tcp6"} {
			socks, err := readTCP(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			for _, s := range socks {
				if d, ok := c.match(s); ok && !slices.Contains(found, d+where) {
					found = append(found, d+where)
				}
			}
		}
		return nil
	}
	if err := scan(filepath.Join(proc, "net"), ""); err != nil {
		return false, "", err
	}
	if c.Containers {
		self, err := netns(filepath.Join(proc, "self"))
		if err != nil {
			return false, "", err
		}
		seen := map[string]bool{self: true}
		pids, err := listPIDs(proc)
		if err != nil {
			return false, "", err
		}
		for _, pid := range pids {
			if err := ctx.Err(); err != nil {
				return false, "", err
			}
			dir := filepath.Join(proc, pid)
			ns, err := netns(dir)
			if exited(err) {
				continue // the process exited
			}
			if errors.Is(err, fs.ErrPermission) {
				return false, "", fmt.Errorf("%w (container namespaces need CAP_SYS_PTRACE)", err)
			}
			if err != nil {
				return false, "", err
			}
			if seen[ns] {
				continue
			}
			seen[ns] = true
			err = scan(filepath.Join(dir, "net"), fmt.Sprintf(" (netns %s of pid %s%s)", ns, pid, comm(dir)))
			if err != nil && !exited(err) {
				return false, "", err
			}
		}
	}
	if len(found) == 0 {
		return false, "", nil
	}
	return true, summarize(found, 3), nil
}

func (c *Connections) match(s Socket) (string, bool) {
	if s.State != TCPEstablished {
		return "", false
	}
	remote := s.Remote.Addr().Unmap()
	if c.IgnoreLoopback && remote.IsLoopback() {
		return "", false
	}
	for _, p := range c.Ports {
		if s.Local.Port() == p.Number {
			return p.name() + " connection from " + remote.String(), true
		}
	}
	return "", false
}

func readTCP(path string) ([]Socket, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && strings.HasSuffix(path, "6") {
			return nil, nil // IPv6 disabled
		}
		return nil, err
	}
	defer f.Close()
	socks, err := ParseTCP(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return socks, nil
}

// netns returns the network namespace of the process whose /proc directory
// is dir, as the inode number in "net:[4026531993]".
func netns(dir string) (string, error) {
	l, err := os.Readlink(filepath.Join(dir, "ns", "net"))
	if err != nil {
		return "", err
	}
	if ino, ok := strings.CutPrefix(l, "net:["); ok && strings.HasSuffix(ino, "]") {
		return strings.TrimSuffix(ino, "]"), nil
	}
	return "", fmt.Errorf("%s: %q is not a network namespace", filepath.Join(dir, "ns", "net"), l)
}

// listPIDs returns the numeric entries of /proc, in numeric order.
func listPIDs(proc string) ([]string, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, err
	}
	var pids []string
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > 0 {
			pids = append(pids, e.Name())
		}
	}
	slices.SortFunc(pids, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return pids, nil
}

// comm returns " name" for the process whose /proc directory is dir, or "".
func comm(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "comm"))
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return " " + s
	}
	return ""
}

func rootDir(root string) string {
	if root == "" {
		return "/"
	}
	return root
}

// summarize joins up to n items and counts the rest.
func summarize(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
