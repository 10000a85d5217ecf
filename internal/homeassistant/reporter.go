package homeassistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/veille/veille/internal/clock"
)

// Publisher sends one MQTT message; *mqtt.Session is one.
type Publisher interface {
	Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error
}

// Options configure a Reporter.
type Options struct {
	Topics          Topics
	DiscoveryPrefix string // default "homeassistant"
	Mode            DiscoveryMode
	Device          Device
	Channels        []Channel
	Disks           []Disk
	// StateInterval is the slow cadence of the JSON state (default 60 s);
	// significant changes go out at once, but not more often than
	// MinInterval (default 5 s).
	StateInterval time.Duration
	MinInterval   time.Duration
	Thresholds    Thresholds
	// BirthDelay bounds the random delay before re-announcing after Home
	// Assistant's birth message (default 5 s), so a house of devices does not
	// answer all at once.
	BirthDelay time.Duration
	// OnCommand receives every valid command. It runs on the MQTT session's
	// dispatch goroutine: hand long work to another goroutine.
	OnCommand func(Command)
	Clock     clock.Clock
	Logger    *slog.Logger
}

// Reporter publishes discovery, state, schedule and events, and parses
// commands.
type Reporter struct {
	opts           Options
	pub            Publisher
	log            *slog.Logger
	clk            clock.Clock
	noAvailability map[string]bool

	mu          sync.Mutex
	state       State
	haveState   bool
	published   State // last state sent
	sentAt      time.Time
	pending     bool // a significant change waits for MinInterval
	announceAt  time.Time
	announced   time.Time // when discovery last went out
	maxEnergy   []uint64
	maxSaved    uint64
	maxCO2e     uint64
	schedule    []byte
	wake        chan struct{}
	birthRandom func(max time.Duration) time.Duration

	// refused commands: how many were logged and kept quiet since when
	refusedSince                time.Time
	refusedLogged, refusedQuiet int
}

// New checks opts and returns a Reporter that publishes through pub.
func New(opts Options, pub Publisher) (*Reporter, error) {
	if opts.Topics.Node == "" {
		return nil, errors.New("homeassistant: no node topics")
	}
	if opts.Topics.Prefix == "" {
		opts.Topics.Prefix = "veille"
	}
	if opts.DiscoveryPrefix == "" {
		opts.DiscoveryPrefix = "homeassistant"
	}
	if opts.Device.Name == "" {
		opts.Device.Name = opts.Topics.Node
	}
	if opts.StateInterval <= 0 {
		opts.StateInterval = time.Minute
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = 5 * time.Second
	}
	if opts.BirthDelay <= 0 {
		opts.BirthDelay = 5 * time.Second
	}
	if opts.Thresholds.PowerW <= 0 {
		opts.Thresholds.PowerW = 0.5
	}
	if opts.Thresholds.PowerRatio <= 0 {
		opts.Thresholds.PowerRatio = 0.2
	}
	if opts.Thresholds.TempC <= 0 {
		opts.Thresholds.TempC = 3
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	for _, c := range opts.Channels {
		if !keyRE.MatchString(c.Key) || seen["ch:"+c.Key] {
			return nil, fmt.Errorf("homeassistant: channel key %q: want a unique [a-z0-9_]+", c.Key)
		}
		seen["ch:"+c.Key] = true
	}
	for _, d := range opts.Disks {
		if !keyRE.MatchString(d.Key) || seen["disk:"+d.Key] {
			return nil, fmt.Errorf("homeassistant: disk key %q: want a unique [a-z0-9_]+", d.Key)
		}
		seen["disk:"+d.Key] = true
	}
	r := &Reporter{
		opts: opts, pub: pub, log: opts.Logger, clk: opts.Clock,
		noAvailability: map[string]bool{"next_sleep": true, "next_wake": true},
		maxEnergy:      make([]uint64, len(opts.Channels)),
		wake:           make(chan struct{}, 1),
		birthRandom:    func(max time.Duration) time.Duration { return rand.N(max + 1) },
	}
	keys := map[string]bool{}
	for _, c := range r.components() {
		if keys[c.key] {
			return nil, fmt.Errorf("homeassistant: two entities named %q (a channel or disk key clashes with a built-in entity)", c.key)
		}
		keys[c.key] = true
	}
	return r, nil
}

// BirthTopic is where Home Assistant announces itself; subscribe
// HandleBirth to it.
func (r *Reporter) BirthTopic() string { return r.opts.DiscoveryPrefix + "/status" }

// HandleBirth re-announces, after a random delay, when Home Assistant comes
// online (its birth message "online" on BirthTopic).
func (r *Reporter) HandleBirth(topic string, payload []byte) {
	if topic != r.BirthTopic() || string(payload) != "online" {
		return
	}
	d := r.birthRandom(r.opts.BirthDelay)
	r.mu.Lock()
	r.scheduleAnnounce(r.clk.Now().Add(d))
	r.mu.Unlock()
	r.log.Info("Home Assistant is online, announcing again", "in", d.Round(time.Millisecond))
	r.poke()
}

// HandleCommand parses a message on Topics.CmdFilter() and hands valid
// commands to Options.OnCommand; others are logged with their topic and the
// reason and dropped.
func (r *Reporter) HandleCommand(topic string, payload []byte) {
	cmd, err := ParseCommand(r.opts.Topics.Prefix, r.opts.Topics.Node, topic, payload)
	if err != nil {
		r.refused(topic, len(payload), err)
		return
	}
	if cmd.Name == CmdRefresh {
		r.mu.Lock()
		r.scheduleAnnounce(r.clk.Now())
		r.mu.Unlock()
		r.poke()
	}
	r.log.Info("MQTT command", "command", cmd.String())
	if r.opts.OnCommand != nil {
		r.opts.OnCommand(cmd)
	}
}

// scheduleAnnounce asks Run to announce at, or at the time already pending
// if sooner, but not within MinInterval of the last announcement: a flood of
// births or refresh commands costs one 8 KB retained discovery per interval,
// not one each (r.mu held).
func (r *Reporter) scheduleAnnounce(at time.Time) {
	if !r.announced.IsZero() && at.Before(r.announced.Add(r.opts.MinInterval)) {
		at = r.announced.Add(r.opts.MinInterval)
	}
	if r.announceAt.IsZero() || at.Before(r.announceAt) {
		r.announceAt = at
	}
}

// Announce publishes discovery (retained), then the state and schedule.
// Call it after every connect.
func (r *Reporter) Announce(ctx context.Context) error {
	msgs, err := r.Discovery()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.announced = r.clk.Now()
	r.mu.Unlock()
	for _, m := range msgs {
		if err := r.pub.Publish(ctx, m.Topic, 1, true, m.Payload); err != nil {
			return fmt.Errorf("homeassistant: announce: %w", err)
		}
	}
	r.mu.Lock()
	sched := r.schedule
	r.mu.Unlock()
	if sched != nil {
		if err := r.pub.Publish(ctx, r.opts.Topics.Schedule(), 1, true, sched); err != nil {
			return fmt.Errorf("homeassistant: announce schedule: %w", err)
		}
	}
	return r.publishState(ctx)
}

// Purge removes the retained discovery configs (both modes) and the
// retained state and schedule, so Home Assistant forgets the device.
func (r *Reporter) Purge(ctx context.Context) error {
	var errs []error
	topics := append(r.configTopics(), r.opts.Topics.State(), r.opts.Topics.Schedule())
	for _, t := range topics {
		if err := r.pub.Publish(ctx, t, 1, true, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("homeassistant: purge: %w", err)
	}
	return nil
}

// Update records the current state; Run publishes it at the next
// StateInterval, or soon if the change is significant.
func (r *Reporter) Update(in State) {
	r.mu.Lock()
	// Into the reporter's own buffers: the caller reuses its slices, and
	// nothing is allocated per sample.
	s := in
	s.Channels = append(r.state.Channels[:0], in.Channels...)
	s.Disks = append(r.state.Disks[:0], in.Disks...)
	// Counters never go backwards for Home Assistant, whatever we are given.
	for i := range s.Channels {
		if i < len(r.maxEnergy) {
			if s.Channels[i].EnergyMilliWh < r.maxEnergy[i] {
				s.Channels[i].EnergyMilliWh = r.maxEnergy[i]
			}
			r.maxEnergy[i] = s.Channels[i].EnergyMilliWh
		}
	}
	s.SavedMilliWh = max(s.SavedMilliWh, r.maxSaved)
	r.maxSaved = s.SavedMilliWh
	s.CO2eGrams = max(s.CO2eGrams, r.maxCO2e)
	r.maxCO2e = s.CO2eGrams
	sig := !r.haveState || r.opts.Thresholds.significant(r.published, s)
	r.state, r.haveState = s, true
	if sig {
		r.pending = true
	}
	r.mu.Unlock()
	if sig {
		r.poke()
	}
}

// SetSchedule publishes the next sleep and wake (retained) if they changed.
func (r *Reporter) SetSchedule(ctx context.Context, s Schedule) error {
	b, err := scheduleJSONOf(s)
	if err != nil {
		return fmt.Errorf("homeassistant: schedule: %w", err)
	}
	r.mu.Lock()
	same := string(b) == string(r.schedule)
	r.schedule = b
	r.mu.Unlock()
	if same {
		return nil
	}
	if err := r.pub.Publish(ctx, r.opts.Topics.Schedule(), 1, true, b); err != nil {
		return fmt.Errorf("homeassistant: schedule: %w", err)
	}
	return nil
}

// PublishEvent sends a button press (short, long, double) to the event
// entity; not retained, as Home Assistant ignores replayed events.
func (r *Reporter) PublishEvent(ctx context.Context, press string) error {
	switch press {
	case PressShort, PressLong, PressDouble:
	default:
		return fmt.Errorf("homeassistant: unknown button press %q", press)
	}
	b, _ := json.Marshal(map[string]string{"event_type": press})
	if err := r.pub.Publish(ctx, r.opts.Topics.Event(), 0, false, b); err != nil {
		return fmt.Errorf("homeassistant: button event: %w", err)
	}
	return nil
}

func (r *Reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Reporter) publishState(ctx context.Context) error {
	r.mu.Lock()
	if !r.haveState {
		r.mu.Unlock()
		return nil
	}
	s := r.state
	s.Channels = append([]ChannelState(nil), s.Channels...) // Update reuses r.state's buffers
	s.Disks = append(s.Disks[:0:0], s.Disks...)
	r.mu.Unlock()
	b, err := r.stateJSON(s)
	if err != nil {
		return fmt.Errorf("homeassistant: state: %w", err)
	}
	if err := r.pub.Publish(ctx, r.opts.Topics.State(), 1, true, b); err != nil {
		return fmt.Errorf("homeassistant: state: %w", err)
	}
	r.mu.Lock()
	r.published, r.sentAt, r.pending = s, r.clk.Now(), false
	r.mu.Unlock()
	return nil
}

// Run publishes the state at StateInterval and on significant change, and
// re-announces after Home Assistant's birth, until ctx is cancelled.
// Publishing errors are logged (the session is down: the next connect
// announces anyway).
func (r *Reporter) Run(ctx context.Context) error {
	for {
		now := r.clk.Now()
		r.mu.Lock()
		due := r.sentAt.Add(r.opts.StateInterval)
		if r.pending {
			due = r.sentAt.Add(r.opts.MinInterval)
		}
		announce := !r.announceAt.IsZero()
		if announce && r.announceAt.Before(due) {
			due = r.announceAt
		}
		r.mu.Unlock()
		if !due.After(now) {
			r.mu.Lock()
			doAnnounce := announce && !r.announceAt.After(now)
			if doAnnounce {
				r.announceAt = time.Time{}
			}
			r.mu.Unlock()
			var err error
			if doAnnounce {
				err = r.Announce(ctx)
			} else {
				err = r.publishState(ctx)
				r.mu.Lock()
				if err != nil || !r.haveState {
					// Do not spin: try again at the next interval.
					r.sentAt = now
				}
				r.mu.Unlock()
			}
			if err != nil && ctx.Err() == nil {
				r.log.Debug("Home Assistant publish failed", "err", err)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.clk.After(due.Sub(now)):
		case <-r.wake:
		}
	}
}

// refusedPerMinute is how many refused commands are logged one by one in a
// minute; past it, one line a minute counts the rest.
const refusedPerMinute = 60

// refused logs a refused command: every one while they are rare, then at
// most one line a minute saying how many more there were, so a flood of
// bad commands cannot flood the journal.
func (r *Reporter) refused(topic string, size int, err error) {
	r.mu.Lock()
	now := r.clk.Now()
	if now.Sub(r.refusedSince) >= time.Minute || now.Before(r.refusedSince) {
		if r.refusedQuiet > 0 {
			r.log.Warn("refused MQTT commands not logged one by one", "count", r.refusedQuiet, "since", r.refusedSince)
		}
		r.refusedSince, r.refusedLogged, r.refusedQuiet = now, 0, 0
	}
	log := r.refusedLogged < refusedPerMinute
	if log {
		r.refusedLogged++
	} else {
		r.refusedQuiet++
	}
	r.mu.Unlock()
	if log {
		r.log.Warn("refused MQTT command", "topic", topic, "bytes", size, "reason", err)
	}
}
