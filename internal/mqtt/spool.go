package mqtt

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// SpoolOptions bound the on-disk spool.
type SpoolOptions struct {
	// Dir holds the spool's segment files (e.g. <state dir>/spool). It is
	// created if missing.
	Dir string
	// MaxBytes bounds the spool on disk; the oldest records are dropped
	// first. 0 means 16 MiB.
	MaxBytes int64
	// MaxAge drops records queued longer ago than this. 0 means 7 days.
	MaxAge time.Duration
	// SegmentBytes is the size at which a new segment file starts; dropping
	// for size removes whole segments. 0 means MaxBytes/16.
	SegmentBytes int64
	// NoSync skips fsync after each append (tests on tmpfs).
	NoSync bool
}

// Record is one spooled message.
type Record struct {
	Queued  time.Time // when it entered the spool
	Payload []byte
}

// Spool is a bounded FIFO of messages on disk: append-only segment files of
// CBOR records (an RFC 8742 CBOR sequence), each [queued Unix ms, CRC-32C of
// the payload, payload]. It survives a restart; a record torn by a power cut
// is cut off when the spool is opened. Records are removed only by Pop, after
// the broker acknowledged them, so a crash replays (at worst) a record twice
// and never loses one. Safe for concurrent use.
type Spool struct {
	mu   sync.Mutex
	opts SpoolOptions
	segs []*segment // oldest first; the last one takes appends
	// head is the read position in segs[0].
	headOff int64
	headN   int // records consumed in segs[0]
	dropped uint64
	records int
	bytes   int64
	w       *os.File // open for append on the last segment
	nextSeg int      // number of the next segment file; never reused
}

type segment struct {
	name    string
	size    int64
	records []recordPos // offsets of the records in the file
	newest  time.Time
}

type recordPos struct {
	off, end int64
	queued   time.Time
}

type wireRecord struct {
	_       struct{} `cbor:",toarray"`
	Queued  int64
	CRC     uint32
	Payload []byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const headFile = "head"

// OpenSpool opens (or creates) the spool in opts.Dir, recovering from a
// torn last record and honouring the read position saved by Close.
func OpenSpool(opts SpoolOptions) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 16 << 20
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 7 * 24 * time.Hour
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = max(opts.MaxBytes/16, 4096)
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool %s: %w", opts.Dir, err)
	}
	s := &Spool{opts: opts}
	entries, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", opts.Dir, err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "seg-") && strings.HasSuffix(e.Name(), ".cbors") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names) // zero-padded numbers: lexical is numeric order
	s.nextSeg = 1
	if len(names) > 0 {
		last, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(names[len(names)-1], "seg-"), ".cbors"))
		s.nextSeg = last + 1
	}
	for _, n := range names {
		seg, err := s.load(n)
		if err != nil {
			return nil, err
		}
		if len(seg.records) == 0 {
			_ = os.Remove(filepath.Join(opts.Dir, n))
			continue
		}
		s.segs = append(s.segs, seg)
		s.records += len(seg.records)
		s.bytes += seg.size
	}
	s.readHead()
	return s, nil
}

// load reads a segment, truncating it after its last whole, valid record.
func (s *Spool) load(name string) (*segment, error) {
	path := filepath.Join(s.opts.Dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spool: read %s: %w", path, err)
	}
	seg := &segment{name: name}
	rest := data
	var off int64
	for len(rest) > 0 {
		var r wireRecord
		next, err := cbor.UnmarshalFirst(rest, &r)
		if err != nil || crc32.Checksum(r.Payload, castagnoli) != r.CRC {
			break
		}
		end := off + int64(len(rest)-len(next))
		q := time.UnixMilli(r.Queued)
		seg.records = append(seg.records, recordPos{off: off, end: end, queued: q})
		seg.newest = q
		off, rest = end, next
	}
	if off < int64(len(data)) {
		if err := os.Truncate(path, off); err != nil {
			return nil, fmt.Errorf("spool: cut torn record off %s: %w", path, err)
		}
	}
	seg.size = off
	return seg, nil
}

// readHead restores the read position saved by Close, if it is still valid.
func (s *Spool) readHead() {
	b, err := os.ReadFile(filepath.Join(s.opts.Dir, headFile))
	if err != nil || len(s.segs) == 0 {
		return
	}
	name, offs, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	off, err := strconv.ParseInt(offs, 10, 64)
	if !ok || err != nil || name != s.segs[0].name {
		return
	}
	for i, r := range s.segs[0].records {
		if r.off == off {
			s.headOff, s.headN = off, i
			s.records -= i
			return
		}
	}
}

// Append adds a record at the tail, dropping the oldest records if the spool
// would exceed its size.
func (s *Spool) Append(queued time.Time, payload []byte) error {
	rec, err := cbor.Marshal(wireRecord{Queued: queued.UnixMilli(), CRC: crc32.Checksum(payload, castagnoli), Payload: payload})
	if err != nil {
		return fmt.Errorf("spool: encode record: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if int64(len(rec)) > s.opts.MaxBytes {
		s.dropped++
		return fmt.Errorf("spool: record of %d bytes exceeds the spool size %d", len(rec), s.opts.MaxBytes)
	}
	if len(s.segs) == 0 || s.segs[len(s.segs)-1].size+int64(len(rec)) > s.opts.SegmentBytes {
		if err := s.startSegment(); err != nil {
			return err
		}
	}
	seg := s.segs[len(s.segs)-1]
	if s.w == nil {
		f, err := os.OpenFile(filepath.Join(s.opts.Dir, seg.name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("spool: open %s: %w", seg.name, err)
		}
		s.w = f
	}
	if _, err := s.w.Write(rec); err != nil {
		return fmt.Errorf("spool: append to %s: %w", seg.name, err)
	}
	if !s.opts.NoSync {
		if err := s.w.Sync(); err != nil {
			return fmt.Errorf("spool: sync %s: %w", seg.name, err)
		}
	}
	seg.records = append(seg.records, recordPos{off: seg.size, end: seg.size + int64(len(rec)), queued: queued})
	seg.size += int64(len(rec))
	seg.newest = queued
	s.records++
	s.bytes += int64(len(rec))
	for s.bytes > s.opts.MaxBytes && len(s.segs) > 1 {
		s.dropSegment()
	}
	return nil
}

func (s *Spool) startSegment() error {
	if s.w != nil {
		_ = s.w.Close()
		s.w = nil
	}
	name := fmt.Sprintf("seg-%020d.cbors", s.nextSeg)
	s.nextSeg++
	f, err := os.OpenFile(filepath.Join(s.opts.Dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("spool: create segment: %w", err)
	}
	s.w = f
	s.segs = append(s.segs, &segment{name: name})
	return nil
}

// dropSegment removes the oldest segment, counting its unread records.
func (s *Spool) dropSegment() {
	seg := s.segs[0]
	unread := len(seg.records) - s.headN
	s.dropped += uint64(unread)
	s.records -= unread
	s.bytes -= seg.size
	if len(s.segs) == 1 && s.w != nil {
		_ = s.w.Close()
		s.w = nil
	}
	_ = os.Remove(filepath.Join(s.opts.Dir, seg.name))
	s.segs = s.segs[1:]
	s.headOff, s.headN = 0, 0
	_ = os.Remove(filepath.Join(s.opts.Dir, headFile))
}

// Peek returns the oldest record without removing it; ok is false when the
// spool is empty. Records older than MaxAge (by now) are dropped and counted.
func (s *Spool) Peek(now time.Time) (rec Record, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segs) > 0 {
		seg := s.segs[0]
		if s.headN >= len(seg.records) {
			if len(s.segs) == 1 {
				return Record{}, false, nil
			}
			s.dropSegment() // fully read: nothing is dropped
			continue
		}
		// A segment whose newest record is too old goes at once.
		if now.Sub(seg.newest) > s.opts.MaxAge && len(s.segs) > 1 {
			s.dropSegment()
			continue
		}
		pos := seg.records[s.headN]
		if now.Sub(pos.queued) > s.opts.MaxAge {
			s.dropped++
			s.advance()
			continue
		}
		data := make([]byte, pos.end-pos.off)
		f, err := os.Open(filepath.Join(s.opts.Dir, seg.name))
		if err != nil {
			return Record{}, false, fmt.Errorf("spool: open %s: %w", seg.name, err)
		}
		_, err = f.ReadAt(data, pos.off)
		f.Close()
		if err != nil {
			return Record{}, false, fmt.Errorf("spool: read %s at %d: %w", seg.name, pos.off, err)
		}
		var r wireRecord
		if err := cbor.Unmarshal(data, &r); err != nil || crc32.Checksum(r.Payload, castagnoli) != r.CRC {
			// Changed under us (disk error): skip it rather than loop.
			s.dropped++
			s.advance()
			continue
		}
		return Record{Queued: time.UnixMilli(r.Queued), Payload: r.Payload}, true, nil
	}
	return Record{}, false, nil
}

// Pop removes the oldest record (the one Peek returned).
func (s *Spool) Pop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) == 0 || s.headN >= len(s.segs[0].records) {
		return
	}
	s.advance()
	if s.headN == len(s.segs[0].records) {
		// Fully read (nothing is counted as dropped). If it was the last
		// segment the next Append starts a new file.
		s.dropSegment()
	}
}

func (s *Spool) advance() {
	seg := s.segs[0]
	s.headOff = seg.records[s.headN].end
	s.headN++
	s.records--
}

// Len is the number of records waiting.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

// Dropped counts the records lost to the size and age limits.
func (s *Spool) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Close saves the read position (so acknowledged records are not replayed
// after a restart) and closes the files.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.w != nil {
		errs = append(errs, s.w.Close())
		s.w = nil
	}
	path := filepath.Join(s.opts.Dir, headFile)
	if len(s.segs) > 0 && s.headN > 0 {
		errs = append(errs, writeFileAtomic(path, []byte(s.segs[0].name+" "+strconv.FormatInt(s.headOff, 10)+"\n")))
	} else if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool %s: close: %w", s.opts.Dir, err)
	}
	return nil
}

// writeFileAtomic writes via a temporary file, fsync and rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
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
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
