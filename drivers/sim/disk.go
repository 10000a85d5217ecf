package sim

import (
	"fmt"
	"hash/fnv"
	"sort"
	"time"
)

// DiskState is what a disk's spindle is doing.
type DiskState int

// Disk states.
const (
	DiskOff        DiskState = iota // no power
	DiskSpinningUp                  // SpinUpTime at DiskPower.SpinUp
	DiskIdle                        // spinning, no I/O
	DiskBusy                        // spinning, I/O in progress
	DiskStandby                     // spun down
)

func (s DiskState) String() string {
	switch s {
	case DiskOff:
		return "off"
	case DiskSpinningUp:
		return "spinning up"
	case DiskIdle:
		return "idle"
	case DiskBusy:
		return "busy"
	case DiskStandby:
		return "standby"
	}
	return fmt.Sprintf("DiskState(%d)", int(s))
}

// I/O rates of a busy disk: 20 MiB/s in 128 KiB requests.
const (
	sectorsPerSec  = 40960.0
	sectorsPerReq  = 256.0
	diskThroughput = sectorsPerSec
)

type disk struct {
	o       DiskOpts
	idx     int
	port    *port
	parts   []*partition
	state   DiskState
	powered bool
	link    bool // the USB link is up (the device may still be enumerating)
	present bool // the kernel shows it
	host    int  // SCSI host number of the current enumeration

	ev        *event // the next internal transition (spin-up done, I/O done)
	standbyEv *event
	enumEv    *event
	busyUntil time.Time
	pending   time.Duration // I/O waiting for the spin-up
	write     bool
	stopped   bool // stopped by START STOP UNIT (TEST UNIT READY says NOT READY)

	st diskStats
}

type partition struct {
	d     *disk
	n     int
	name  string
	o     PartitionOpts
	minor int
}

// diskStats are the /proc/diskstats counters, integrated as the disk works.
type diskStats struct {
	at                  time.Time
	rios, rsect, rticks float64
	wios, wsect, wticks float64
	ioticks, queue      float64
}

func (d *disk) major() int { return 8 }
func (d *disk) minor() int { return 16 * d.idx }

func (d *disk) account(at time.Time) {
	dt := at.Sub(d.st.at).Seconds()
	if dt > 0 && d.state == DiskBusy {
		sect, ms := dt*diskThroughput, dt*1000
		if d.write {
			d.st.wsect += sect
			d.st.wios += sect / sectorsPerReq
			d.st.wticks += ms
		} else {
			d.st.rsect += sect
			d.st.rios += sect / sectorsPerReq
			d.st.rticks += ms
		}
		d.st.ioticks += ms
		d.st.queue += ms
	}
	if at.After(d.st.at) {
		d.st.at = at
	}
}

func (d *disk) resetStats(at time.Time) { d.st = diskStats{at: at} }

// power is the disk's draw in W.
func (d *disk) power() float64 {
	switch d.state {
	case DiskSpinningUp:
		return watts(d.o.Power.SpinUp)
	case DiskIdle:
		return watts(d.o.Power.Idle)
	case DiskBusy:
		return watts(d.o.Power.Busy)
	case DiskStandby:
		return watts(d.o.Power.Standby)
	}
	return 0
}

func (w *World) setDiskState(at time.Time, d *disk, s DiskState) {
	if d.state == s {
		return
	}
	d.account(at)
	w.log.Debug("sim: disk state", "disk", d.o.Name, "from", d.state, "to", s, "at", at)
	d.state = s
	w.changed(at)
}

func (w *World) diskPowerOn(at time.Time, d *disk) {
	d.powered, d.stopped = true, false
	d.resetStats(at)
	w.log.Info("sim: disk powered", "disk", d.o.Name, "at", at)
	w.spinUp(at, d)
}

func (w *World) diskPowerOff(at time.Time, d *disk) {
	if w.mountedOn(d) {
		w.violate(at, d, "power cut while mounted", "a filesystem on it is still mounted")
	} else if d.state == DiskBusy {
		w.violate(at, d, "power cut during I/O", "the disk was busy")
	}
	d.powered, d.pending = false, 0
	d.ev.cancel()
	d.standbyEv.cancel()
	d.ev, d.standbyEv = nil, nil
	w.log.Info("sim: disk lost power", "disk", d.o.Name, "at", at)
	w.setDiskState(at, d, DiskOff)
}

func (w *World) spinUp(at time.Time, d *disk) {
	d.standbyEv.cancel()
	d.ev.cancel()
	w.setDiskState(at, d, DiskSpinningUp)
	d.ev = w.schedule(at.Add(d.o.Power.SpinUpTime), func(t time.Time) { w.spunUp(t, d) })
}

func (w *World) spunUp(at time.Time, d *disk) {
	d.ev = nil
	if d.pending > 0 {
		p := d.pending
		d.pending = 0
		w.busy(at, d, at.Add(p))
		return
	}
	w.setDiskState(at, d, DiskIdle)
	w.armStandby(at, d)
}

func (w *World) busy(at time.Time, d *disk, until time.Time) {
	d.standbyEv.cancel()
	d.standbyEv = nil
	w.setDiskState(at, d, DiskBusy)
	if until.After(d.busyUntil) || d.ev == nil {
		d.busyUntil = until
		d.ev.cancel()
		d.ev = w.schedule(until, func(t time.Time) {
			d.ev = nil
			w.setDiskState(t, d, DiskIdle)
			w.armStandby(t, d)
		})
	}
}

func (w *World) armStandby(at time.Time, d *disk) {
	d.standbyEv.cancel()
	d.standbyEv = nil
	if d.o.StandbyAfter <= 0 {
		return
	}
	d.standbyEv = w.schedule(at.Add(d.o.StandbyAfter), func(t time.Time) {
		d.standbyEv = nil
		if d.state == DiskIdle {
			w.log.Info("sim: disk standby timer", "disk", d.o.Name, "at", t)
			w.setDiskState(t, d, DiskStandby)
		}
	})
}

// diskIO makes the disk do dur of I/O from at: a disk in standby spins up
// first. It reports false if the disk has no power.
func (w *World) diskIO(at time.Time, d *disk, dur time.Duration, write bool) bool {
	switch d.state {
	case DiskOff:
		return false
	case DiskStandby:
		w.log.Info("sim: I/O spins the disk up", "disk", d.o.Name, "at", at)
		d.pending += dur
		d.write = write
		w.spinUp(at, d)
		d.stopped = false
	case DiskSpinningUp:
		d.pending += dur
		d.write = write
	case DiskIdle:
		d.account(at)
		d.write = write
		w.busy(at, d, at.Add(dur))
	case DiskBusy:
		d.account(at)
		d.write = write
		w.busy(at, d, d.busyUntil.Add(dur))
	}
	return true
}

// diskTouch is a short synchronous access (a mount reading the superblock,
// an unmount's final flush, the kernel reading the partition table): on a
// spinning disk it is done by the time the call returns; a disk in standby
// has to spin up for it.
func (w *World) diskTouch(at time.Time, d *disk, write bool) {
	switch d.state {
	case DiskIdle, DiskBusy:
		d.account(at)
		if write {
			d.st.wios++
			d.st.wsect += sectorsPerReq
		} else {
			d.st.rios++
			d.st.rsect += sectorsPerReq
		}
	case DiskStandby, DiskSpinningUp:
		w.diskIO(at, d, 20*time.Millisecond, write)
	}
}

// diskStop spins the disk down (START STOP UNIT stop, ATA STANDBY
// IMMEDIATE). I/O still queued or in flight spins it right back up.
func (w *World) diskStop(at time.Time, d *disk) {
	if d.state == DiskOff || d.state == DiskStandby {
		return
	}
	left := d.pending
	if d.state == DiskBusy && d.busyUntil.After(at) {
		left += d.busyUntil.Sub(at)
	}
	d.pending = 0
	d.ev.cancel()
	d.standbyEv.cancel()
	d.ev, d.standbyEv = nil, nil
	w.log.Info("sim: disk spun down", "disk", d.o.Name, "at", at)
	w.setDiskState(at, d, DiskStandby)
	if left > 0 {
		w.log.Info("sim: pending I/O spins the disk back up", "disk", d.o.Name, "left", left)
		w.diskIO(at, d, left, d.write)
	}
}

func (w *World) diskStart(at time.Time, d *disk) {
	if d.state == DiskStandby {
		w.spinUp(at, d)
	}
	d.stopped = false
}

// DiskState returns what the disk is doing.
func (w *World) DiskState(name string) (DiskState, error) {
	w.lock()
	defer w.unlock()
	d, ok := w.diskBy[name]
	if !ok {
		return 0, fmt.Errorf("sim: no disk %q", name)
	}
	return d.state, nil
}

// DiskPresent reports whether the kernel shows the disk (powered, link up,
// enumerated).
func (w *World) DiskPresent(name string) (bool, error) {
	w.lock()
	defer w.unlock()
	d, ok := w.diskBy[name]
	if !ok {
		return false, fmt.Errorf("sim: no disk %q", name)
	}
	return d.present, nil
}

// IO makes the named disk do dur of I/O now (reads, or writes), the way a
// client streaming a film or uploading photos would; a disk in standby spins
// up first. It fails if the disk has no power.
func (w *World) IO(name string, dur time.Duration, write bool) error {
	at := w.lock()
	defer w.unlock()
	d, ok := w.diskBy[name]
	if !ok {
		return fmt.Errorf("sim: I/O: no disk %q", name)
	}
	if !d.present || !w.diskIO(at, d, dur, write) {
		return fmt.Errorf("sim: I/O on %s: %w", name, errNoDev)
	}
	return w.render(false)
}

// startPattern fires fn at every occurrence of pat, at a phase drawn from
// the seed and name.
func (w *World) startPattern(name string, pat IOPattern, fn func(at time.Time)) {
	if pat.Every <= 0 || pat.Duration <= 0 {
		return
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	phase := time.Duration(splitmix(w.seed^h.Sum64()) % uint64(pat.Every))
	var next func(at time.Time)
	next = func(at time.Time) {
		fn(at)
		w.schedule(at.Add(pat.Every), next)
	}
	w.schedule(w.origin.Add(phase), next)
}

// mountedOn reports whether a filesystem on d is mounted.
func (w *World) mountedOn(d *disk) bool {
	for _, m := range w.mounts {
		if m.part != nil && m.part.d == d {
			return true
		}
	}
	return false
}

func sortBy[T any](s []T, key func(T) string) {
	sort.SliceStable(s, func(i, j int) bool { return key(s[i]) < key(s[j]) })
}
