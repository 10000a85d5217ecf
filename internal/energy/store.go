package energy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is what survives a restart.
type State struct {
	Version int `json:"version"`
	// Epoch changes when the counters had to restart from zero (both state
	// files lost), so consumers can tell a reset from a decrease.
	Epoch string    `json:"epoch"`
	Saved time.Time `json:"saved"`
	// Clean is true when written at a planned stop: the values are exact and
	// carry no reservation.
	Clean bool `json:"clean"`
	// Channels maps a channel name to its lifetime counter in µJ, including
	// the reservation when Clean is false.
	Channels map[string]uint64 `json:"channels_uj"`
	// Today is per-channel energy since local midnight on Day (yyyymmdd).
	Day   int               `json:"day"`
	Today map[string]uint64 `json:"today_uj"`
	// SavedEnergy and Baseline carry the savings estimate.
	SavedEnergy uint64  `json:"saved_uj"`
	Baseline    float64 `json:"baseline_w"`
	// Writes counts checkpoints since the file was created (SD wear).
	Writes uint64 `json:"writes"`
}

type envelope struct {
	State State  `json:"state"`
	CRC   uint32 `json:"crc32"`
}

// Store keeps State in dir/energy.json, written atomically (temp file,
// fsync, rename, fsync of the directory), with the previous generation kept
// as energy.json.prev so a torn or corrupt file falls back to the last good
// one.
type Store struct {
	Dir string
	// WriteFile is the lowest-level write, replaceable in fault tests.
	WriteFile func(name string, data []byte) error
}

const fileName = "energy.json"

// Load returns the newest intact state. With no intact file it returns a
// fresh state with a new epoch and an error saying what was lost (nil when
// there simply was no file yet).
func (s *Store) Load() (State, error) {
	var errs []error
	for _, name := range []string{fileName, fileName + ".prev"} {
		st, err := readState(filepath.Join(s.Dir, name))
		if err == nil {
			return st, joinNotExist(errs)
		}
		errs = append(errs, err)
	}
	fresh := State{Version: 1, Epoch: newEpoch(), Channels: map[string]uint64{}, Today: map[string]uint64{}, Clean: true}
	return fresh, joinNotExist(errs)
}

func joinNotExist(errs []error) error {
	var real []error
	for _, e := range errs {
		if !errors.Is(e, fs.ErrNotExist) {
			real = append(real, e)
		}
	}
	return errors.Join(real...)
}

func readState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, err
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return State{}, fmt.Errorf("%s: corrupt: %w", path, err)
	}
	body, _ := json.Marshal(env.State)
	if crc32.ChecksumIEEE(body) != env.CRC {
		return State{}, fmt.Errorf("%s: corrupt: checksum mismatch", path)
	}
	if env.State.Version != 1 {
		return State{}, fmt.Errorf("%s: unknown version %d", path, env.State.Version)
	}
	if env.State.Channels == nil {
		env.State.Channels = map[string]uint64{}
	}
	if env.State.Today == nil {
		env.State.Today = map[string]uint64{}
	}
	return env.State, nil
}

// Save writes st atomically.
func (s *Store) Save(st State) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("energy state: %w", err)
	}
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(envelope{State: st, CRC: crc32.ChecksumIEEE(body)}, "", " ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	path := filepath.Join(s.Dir, fileName)
	tmp := path + ".tmp"
	write := s.WriteFile
	if write == nil {
		write = writeSynced
	}
	if err := write(tmp, data); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("energy state: write %s: %w", tmp, err)
	}
	// Keep the current generation as .prev: link, so there is never a moment
	// without an intact energy.json. A torn or corrupt one (a power cut) is
	// not kept: .prev stays the last good generation.
	prev := path + ".prev"
	if _, err := readState(path); err == nil {
		os.Remove(prev)
		if err := os.Link(path, prev); err != nil {
			return fmt.Errorf("energy state: keep previous generation: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("energy state: rename %s: %w", tmp, err)
	}
	return syncDir(s.Dir)
}

func writeSynced(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("energy state: sync %s: %w", dir, err)
	}
	return nil
}

func newEpoch() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
