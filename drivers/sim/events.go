package sim

import (
	"container/heap"
	"time"
)

// event is something the world does at a time of its own: a disk finishing
// its spin-up, the wake alarm firing, a CPU burst ending.
type event struct {
	at   time.Time
	seq  uint64
	fn   func(at time.Time)
	dead bool
	idx  int
}

// cancel stops a pending event; a nil or fired event is fine.
func (e *event) cancel() {
	if e != nil {
		e.dead = true
	}
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q eventQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idx, q[j].idx = i, j
}
func (q *eventQueue) Push(x any) { e := x.(*event); e.idx = len(*q); *q = append(*q, e) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// schedule runs fn at at (or at the world's present if at is earlier).
func (w *World) schedule(at time.Time, fn func(at time.Time)) *event {
	if at.Before(w.t) {
		at = w.t
	}
	w.seq++
	e := &event{at: at, seq: w.seq, fn: fn}
	heap.Push(&w.q, e)
	return e
}

// advance processes every event up to to, in time order, each at its own
// time: the load model changes exactly when the world says, whenever it is
// observed. A clock that goes back is ignored (the world's present stays).
func (w *World) advance(to time.Time) {
	for len(w.q) > 0 && !w.q[0].at.After(to) {
		e := heap.Pop(&w.q).(*event)
		if e.dead {
			continue
		}
		if e.at.After(w.t) {
			w.t = e.at
		}
		e.fn(w.t)
	}
	if to.After(w.t) {
		w.t = to
	}
}
