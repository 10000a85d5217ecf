package sim

import (
	"time"

	"periph.io/x/conn/v3/physic"
)

// rail is a supply feeding loads: the board and/or disks. Each load draws
// its power at the nominal supply voltage as a current; the bus voltage the
// sensors see sags by the source resistance. A rail switched by a port's
// VBUS reads 0 V and 0 A while that power is off.
type rail struct {
	o      RailOpts
	vs, rs float64
	board  bool
	disks  []*disk
	port   *port
	trace  *Trace
}

func (w *World) updateRail(at time.Time, r *rail) {
	var p float64
	if r.board {
		p += w.board.power()
	}
	for _, d := range r.disks {
		p += d.power()
	}
	i := p / r.vs
	v := r.vs - r.rs*i
	if r.port != nil && !w.vbus(r.port.group) {
		v, i = 0, 0
	}
	if v < 0 {
		v = 0
	}
	r.trace.set(int64(at.Sub(w.origin)), v, i)
}

func volts(v physic.ElectricPotential) float64 { return float64(v) / float64(physic.Volt) }
func ohms(r physic.ElectricResistance) float64 { return float64(r) / float64(physic.Ohm) }
