package energy

import (
	"fmt"
	"time"
)

// Keeper owns the ledger, the savings estimate and their persistence, and
// enforces the never-backwards rule: Published never exceeds what a restart
// would resume from.
type Keeper struct {
	Ledger  *Ledger
	Savings Savings
	Epoch   string
	// Interval between checkpoints (a few per hour keeps SD writes low).
	Interval time.Duration
	// MinReserve is the smallest reservation per channel, in µJ.
	MinReserve uint64

	store    *Store
	ceiling  []uint64 // per channel: what a restart resumes from
	atLast   []uint64 // per channel: Total at the last checkpoint
	lastSave time.Time
	writes   uint64
	err      error // last persistence error, nil when healthy
}

// Open loads the persisted state for the named channels. The returned
// warning (possibly nil) says what could not be restored; the keeper is
// usable either way.
func Open(store *Store, names []string, loc *time.Location, maxGap, interval time.Duration) (*Keeper, error) {
	st, warn := store.Load()
	k := &Keeper{
		Ledger:     NewLedger(names, loc, maxGap),
		Epoch:      st.Epoch,
		Interval:   interval,
		MinReserve: uint64(0.5 * MicroJoulesPerWh),
		store:      store,
		ceiling:    make([]uint64, len(names)),
		atLast:     make([]uint64, len(names)),
		writes:     st.Writes,
	}
	if warn != nil {
		if st.Writes == 0 && len(st.Channels) == 0 {
			warn = fmt.Errorf("energy counters restart from zero with a new epoch %s: %w", st.Epoch, warn)
		} else {
			warn = fmt.Errorf("energy counters restored from the previous generation (%s.prev, checkpoint %d): %w", fileName, st.Writes, warn)
		}
	}
	for i, n := range names {
		v := st.Channels[n] // includes the reservation after an unclean stop
		k.Ledger.Channels[i].Total = v
		k.ceiling[i] = v
		k.atLast[i] = v
	}
	if st.Day != 0 {
		k.Ledger.day = st.Day
		for i, n := range names {
			k.Ledger.Channels[i].Today = st.Today[n]
		}
	}
	k.Savings.Saved = st.SavedEnergy
	k.Savings.Baseline = st.Baseline
	return k, warn
}

// Published returns channel i's lifetime counter as it may be published:
// never above what the agent would resume from after a crash.
func (k *Keeper) Published(i int) uint64 {
	return min(k.Ledger.Channels[i].Total, k.ceiling[i])
}

// PublishedToday returns channel i's energy since local midnight as it may
// be published: held back by as much as Published holds back the lifetime
// counter, so that after a crash the day's count resumes at or above what
// was published (checkpoints store it with the same reservation). Home
// Assistant's total_increasing takes any decrease for a new day.
func (k *Keeper) PublishedToday(i int) uint64 {
	c := &k.Ledger.Channels[i]
	return c.Today - min(c.Today, c.Total-k.Published(i))
}

// Err is the last persistence failure (nil when the last write worked).
func (k *Keeper) Err() error { return k.err }

// Writes counts checkpoints written since the state file was created.
func (k *Keeper) Writes() uint64 { return k.writes }

// Maybe checkpoints when the interval has passed or a counter is about to
// reach its reservation. It returns the error of a checkpoint it tried.
func (k *Keeper) Maybe(now time.Time) error {
	due := k.lastSave.IsZero() || now.Sub(k.lastSave) >= k.Interval || now.Before(k.lastSave)
	if !due {
		for i := range k.ceiling {
			if k.Ledger.Channels[i].Total >= k.ceiling[i] {
				due = true
				break
			}
		}
	}
	if !due {
		return nil
	}
	return k.checkpoint(now, false)
}

// Close writes the exact counters (no reservation) for a planned stop.
func (k *Keeper) Close(now time.Time) error { return k.checkpoint(now, true) }

func (k *Keeper) checkpoint(now time.Time, clean bool) error {
	n := len(k.ceiling)
	ceil := make([]uint64, n)
	st := State{
		Version: 1, Epoch: k.Epoch, Saved: now, Clean: clean,
		Channels: make(map[string]uint64, n), Today: make(map[string]uint64, n),
		Day: k.Ledger.day, SavedEnergy: k.Savings.Saved, Baseline: k.Savings.Baseline,
		Writes: k.writes + 1,
	}
	for i := range k.Ledger.Channels {
		c := &k.Ledger.Channels[i]
		ceil[i] = c.Total
		if !clean {
			// Reserve twice what the channel used since the last checkpoint,
			// so the next checkpoint normally comes from the interval.
			r := 2 * (c.Total - min(c.Total, k.atLast[i]))
			ceil[i] += max(r, k.MinReserve)
		}
		if !clean {
			// A reservation never moves down: published values may be there.
			// A clean stop writes the exact value, which is at least every
			// published one (Published never exceeds Total).
			ceil[i] = max(ceil[i], k.ceiling[i])
		}
		st.Channels[c.Name] = ceil[i]
		// Today carries the same reservation (none at a clean stop), so it
		// resumes at or above PublishedToday too.
		st.Today[c.Name] = c.Today + (ceil[i] - c.Total)
	}
	k.lastSave = now
	if err := k.store.Save(st); err != nil {
		k.err = err
		return err
	}
	k.err = nil
	k.writes++
	copy(k.ceiling, ceil)
	for i := range k.Ledger.Channels {
		k.atLast[i] = k.Ledger.Channels[i].Total
	}
	return nil
}
