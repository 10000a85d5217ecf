package sim

import (
	"fmt"
	"net/netip"
	"time"
)

// Background traffic of a running server (ARP, mDNS, NTP, Home Assistant
// polling) in bytes per second, and loopback chatter.
const (
	idleRx = 1800.0
	idleTx = 900.0
	loRate = 300.0
)

// netCounters integrate eth0's byte counters since boot.
type netCounters struct {
	at     time.Time
	rx, tx float64
	lo     float64
}

// Conn is a simulated ESTABLISHED TCP connection to a local port (an SSH
// session on 22, a Jellyfin stream on 8096), shown in /proc/net/tcp or tcp6
// and adding its rates to eth0's byte counters.
type Conn struct {
	w      *World
	Local  uint16
	Remote netip.AddrPort
	rx, tx float64 // bytes per second, as the server sees them
	inode  uint64
	closed bool
}

// Connect opens a connection from remote ("192.168.1.23:51234" or
// "[2001:db8::23]:51234") to the local port, receiving rxRate and sending
// txRate bytes per second.
func (w *World) Connect(local uint16, remote string, rxRate, txRate float64) (*Conn, error) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return nil, fmt.Errorf("sim: connect to :%d: remote %q: %w", local, remote, err)
	}
	at := w.lock()
	defer w.unlock()
	if w.board.state != BoardRunning {
		return nil, fmt.Errorf("sim: connect to :%d: the board is %s", local, w.board.state)
	}
	w.accountNet(at)
	c := &Conn{w: w, Local: local, Remote: ap, rx: rxRate, tx: txRate, inode: w.inode()}
	w.conns = append(w.conns, c)
	return c, w.render(false)
}

// Close ends the connection.
func (c *Conn) Close() error {
	w := c.w
	at := w.lock()
	defer w.unlock()
	if c.closed {
		return nil
	}
	c.closeLocked(at)
	for i, o := range w.conns {
		if o == c {
			w.conns = append(w.conns[:i], w.conns[i+1:]...)
			break
		}
	}
	return w.render(false)
}

func (c *Conn) closeLocked(at time.Time) {
	c.w.accountNet(at)
	c.closed = true
}

func (w *World) accountNet(at time.Time) {
	n := &w.net
	dt := at.Sub(n.at).Seconds()
	if dt <= 0 {
		return
	}
	if w.board.state != BoardHalted {
		rx, tx := idleRx, idleTx
		for _, c := range w.conns {
			if !c.closed {
				rx += c.rx
				tx += c.tx
			}
		}
		n.rx += rx * dt
		n.tx += tx * dt
		n.lo += loRate * dt
	}
	n.at = at
}

func (w *World) netBytes(at time.Time) (rx, tx uint64) {
	w.accountNet(at)
	return uint64(w.net.rx), uint64(w.net.tx)
}

func (w *World) loBytes(at time.Time) uint64 {
	w.accountNet(at)
	return uint64(w.net.lo)
}
