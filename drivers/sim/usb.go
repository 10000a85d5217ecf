package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// enumerateDelay is how long a USB disk takes to show up after its port is
// powered (enumeration, SCSI scan, partition table).
const enumerateDelay = 1500 * time.Millisecond

type hub struct {
	o        HubOpts
	bus      int
	dev      string // sysfs device directory, root-relative
	iface    string // "2-0:1.0" for root hub usb2, "2-1:1.0" for hub 2-1
	ports    []*port
	upstream *port // nil for a root hub
	peer     *hub
	link     bool // an external hub's link to the host is up
}

func (h *hub) root() bool { return h.upstream == nil }

type port struct {
	hub      *hub
	n        int
	disabled bool
	group    *powerGroup
}

// name is the kernel's port directory name: "usb2-port1", "2-1-port3".
func (p *port) name() string { return p.hub.o.Name + "-port" + strconv.Itoa(p.n) }

// dir is the port's sysfs directory, root-relative.
func (p *port) dir() string { return p.hub.dev + "/" + p.hub.iface + "/" + p.name() }

func (p *port) key() string { return p.hub.o.Name + ":" + strconv.Itoa(p.n) }

// powerGroup is a set of ports behind one VBUS switch.
type powerGroup struct {
	name    string
	ports   []*port
	onboard bool
}

// parentOf splits a USB device location into the hub it hangs off and the
// port number: "2-1" → usb2, 1; "2-1.3" → 2-1, 3.
func parentOf(loc string) (hubName string, portN int, err error) {
	busS, rest, ok := strings.Cut(loc, "-")
	if !ok || busS == "" || rest == "" {
		return "", 0, fmt.Errorf("USB location %q is not <bus>-<port>[.<port>…]", loc)
	}
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		hubName, rest = busS+"-"+rest[:i], rest[i+1:]
	} else {
		hubName = "usb" + busS
	}
	portN, err = strconv.Atoi(rest)
	if err != nil || portN < 1 {
		return "", 0, fmt.Errorf("USB location %q: bad port number", loc)
	}
	return hubName, portN, nil
}

// portAt resolves the port a device at loc is plugged into.
func (w *World) portAt(loc string) (*port, error) {
	hn, n, err := parentOf(loc)
	if err != nil {
		return nil, err
	}
	h, ok := w.hubBy[hn]
	if !ok {
		return nil, fmt.Errorf("USB location %q: no hub %q", loc, hn)
	}
	if n > len(h.ports) {
		return nil, fmt.Errorf("USB location %q: hub %s has %d ports", loc, hn, len(h.ports))
	}
	return h.ports[n-1], nil
}

// portByKey resolves "hub:port".
func (w *World) portByKey(key string) (*port, error) {
	hn, ns, ok := strings.Cut(key, ":")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil {
		return nil, fmt.Errorf("port %q is not hub:port", key)
	}
	h, ok := w.hubBy[hn]
	if !ok || n < 1 || n > len(h.ports) {
		return nil, fmt.Errorf("port %q: no such hub port", key)
	}
	return h.ports[n-1], nil
}

func (w *World) buildHubs(opts []HubOpts) error {
	// Root hubs first, then external hubs in location order so a hub's
	// parent exists before it.
	var roots, ext []HubOpts
	for _, o := range opts {
		if strings.HasPrefix(o.Name, "usb") {
			roots = append(roots, o)
		} else {
			ext = append(ext, o)
		}
	}
	sortBy(ext, func(o HubOpts) string { return o.Name })
	for _, o := range append(roots, ext...) {
		if o.Ports < 1 {
			return fmt.Errorf("hub %s: %d ports", o.Name, o.Ports)
		}
		if _, dup := w.hubBy[o.Name]; dup {
			return fmt.Errorf("hub %s declared twice", o.Name)
		}
		h := &hub{o: o}
		if bus, ok := strings.CutPrefix(o.Name, "usb"); ok {
			n, err := strconv.Atoi(bus)
			if err != nil || o.Controller == "" {
				return fmt.Errorf("root hub %s: needs a bus number and a Controller", o.Name)
			}
			h.bus, h.dev, h.iface = n, o.Controller+"/"+o.Name, bus+"-0:1.0"
		} else {
			up, err := w.portAt(o.Name)
			if err != nil {
				return fmt.Errorf("hub %s: %w", o.Name, err)
			}
			h.upstream, h.bus = up, up.hub.bus
			h.dev, h.iface = up.hub.dev+"/"+o.Name, o.Name+":1.0"
		}
		for n := 1; n <= o.Ports; n++ {
			h.ports = append(h.ports, &port{hub: h, n: n})
		}
		w.hubs = append(w.hubs, h)
		w.hubBy[o.Name] = h
	}
	for _, h := range w.hubs {
		if h.o.Peer == "" {
			continue
		}
		p, ok := w.hubBy[h.o.Peer]
		if !ok {
			return fmt.Errorf("hub %s: peer %s not declared", h.o.Name, h.o.Peer)
		}
		h.peer, p.peer = p, h
	}
	groups := map[string]*powerGroup{}
	for _, h := range w.hubs {
		for _, p := range h.ports {
			key := ""
			switch {
			case h.o.Gang != "":
				key = "gang " + h.o.Gang
			case h.peer != nil && h.peer.o.Name < h.o.Name:
				key = "port " + h.peer.o.Name + ":" + strconv.Itoa(p.n)
			default:
				key = "port " + p.key()
			}
			g, ok := groups[key]
			if !ok {
				g = &powerGroup{name: key}
				groups[key] = g
				w.groups = append(w.groups, g)
			}
			g.ports = append(g.ports, p)
			g.onboard = g.onboard || h.o.Onboard
			p.group = g
		}
	}
	return nil
}

// onboardPowered: the board's own USB ports have power.
func (w *World) onboardPowered() bool {
	return w.board.state != BoardHalted || w.board.o.HaltKeepsUSB
}

// vbus reports whether a power group's VBUS is on: some port of it is
// enabled (and, for the board's own ports, the board is not halted).
func (w *World) vbus(g *powerGroup) bool {
	if g.onboard && !w.onboardPowered() {
		return false
	}
	for _, p := range g.ports {
		if !p.disabled {
			return true
		}
	}
	return false
}

// linkUp reports whether the device at loc can talk to the host: every port
// on the way is enabled and powered, and the host controller runs.
func (w *World) linkUp(loc string) bool {
	p, err := w.portAt(loc)
	if err != nil || p.disabled || !w.vbus(p.group) {
		return false
	}
	if p.hub.root() {
		return w.board.state != BoardHalted
	}
	return w.linkUp(p.hub.o.Name)
}

// updatePower brings every disk's supply and link in line with the ports
// and the board, after any of them changed.
func (w *World) updatePower(at time.Time) {
	// A hub that comes back (re-plugged, the host booted) is probed again,
	// and the kernel powers all its ports. Hubs are in location order, so an
	// upstream hub is settled before the hubs behind it.
	for _, h := range w.hubs {
		if h.root() {
			continue
		}
		up := w.linkUp(h.o.Name)
		if up && !h.link {
			for _, p := range h.ports {
				p.disabled = false
			}
		}
		h.link = up
	}
	for _, d := range w.disks {
		has := d.o.SelfPowered || w.vbus(d.port.group)
		switch {
		case has && !d.powered:
			w.diskPowerOn(at, d)
		case !has && d.powered:
			w.diskPowerOff(at, d)
		}
		up := d.powered && w.linkUp(d.o.Location)
		if up == d.link {
			continue
		}
		d.link = up
		if up {
			d.enumEv.cancel()
			d.enumEv = w.schedule(at.Add(enumerateDelay), func(t time.Time) { w.enumerate(t, d) })
			continue
		}
		d.enumEv.cancel()
		d.enumEv = nil
		if d.present {
			d.present = false
			w.dirty = true
			if w.mountedOn(d) {
				w.violate(at, d, "disconnected while mounted", "its USB link went down with a filesystem mounted")
			}
			w.log.Info("sim: disk disconnected", "disk", d.o.Name, "at", at)
		}
		if d.powered && d.o.SelfPowered {
			w.diskStop(at, d) // the enclosure parks the disk when the host goes away
		}
	}
	w.changed(at)
	w.dirty = true
}

// enumerate makes a disk appear: the kernel reads its partition table, which
// spins it up if it was in standby.
func (w *World) enumerate(at time.Time, d *disk) {
	d.enumEv = nil
	if !d.powered || !w.linkUp(d.o.Location) {
		return
	}
	d.present = true
	w.scsiHosts++
	d.host = w.scsiHosts - 1
	w.diskTouch(at, d, false)
	w.dirty = true
	w.log.Info("sim: disk enumerated", "disk", d.o.Name, "at", at)
	_ = w.render(false)
}

// setPortDisabled applies a write of the port's disable attribute.
func (w *World) setPortDisabled(at time.Time, p *port, off bool) {
	if p.disabled == off {
		return
	}
	p.disabled = off
	w.log.Info("sim: USB port power", "port", p.name(), "disabled", off, "at", at)
	w.updatePower(at)
}

// PortDisabled reports the state of a port ("2-1:1").
func (w *World) PortDisabled(key string) (bool, error) {
	w.lock()
	defer w.unlock()
	p, err := w.portByKey(key)
	if err != nil {
		return false, fmt.Errorf("sim: %w", err)
	}
	return p.disabled, nil
}
