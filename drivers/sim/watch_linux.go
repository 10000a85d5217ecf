package sim

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher tells which of the files veille writes changed, with inotify, so
// bringing the world to the present costs one read(2) when nothing did.
type watcher struct {
	fd    int
	paths map[int]string // watch descriptor → root-relative path
	buf   []byte
}

func newWatcher() *watcher {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil // fall back to reading every file
	}
	return &watcher{fd: fd, paths: map[int]string{}, buf: make([]byte, 64*1024)}
}

// add watches the file at abs (known to the world as rel).
func (wt *watcher) add(abs, rel string) {
	if wt == nil {
		return
	}
	wd, err := unix.InotifyAddWatch(wt.fd, abs, unix.IN_MODIFY|unix.IN_CLOSE_WRITE)
	if err == nil {
		wt.paths[wd] = rel
	}
}

// changed returns the paths written since the last call; all is true when
// the watcher cannot tell (no inotify, queue overflow): read everything.
func (wt *watcher) changed() (paths map[string]bool, all bool) {
	if wt == nil {
		return nil, true
	}
	for {
		n, err := unix.Read(wt.fd, wt.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			return paths, false
		}
		if err != nil || n <= 0 {
			return nil, true
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&wt.buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				all = true
				continue
			}
			if ev.Mask&unix.IN_IGNORED != 0 {
				delete(wt.paths, int(ev.Wd))
				continue
			}
			if p, ok := wt.paths[int(ev.Wd)]; ok {
				if paths == nil {
					paths = map[string]bool{}
				}
				paths[p] = true
			}
		}
		if all {
			return nil, true
		}
	}
}

func (wt *watcher) close() {
	if wt != nil {
		_ = unix.Close(wt.fd)
	}
}

// tmpfsDir is where New makes its root by default: tmpfs, because the world
// rewrites its counters often, which is slow on a disk and wears an SD card.
func tmpfsDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return ""
}
