package peers

import (
	"encoding/binary"
	"os"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Watch watches directories with inotify (the kernel, as veille's state
// directory sees it) and calls event for each event of mask in them, from
// one goroutine, with the directory, the file's name and the event's mask,
// until event returns false, stop is called or the test ends. Missing
// directories are created. stop returns once event is no longer called.
func Watch(t testing.TB, mask uint32, event func(dir, name string, mask uint32) bool, dirs ...string) (stop func()) {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	wds := map[int32]string{}
	for _, d := range dirs {
		os.MkdirAll(d, 0o755)
		wd, err := unix.InotifyAddWatch(fd, d, mask)
		if err != nil {
			unix.Close(fd)
			t.Fatalf("inotify %s: %v", d, err)
		}
		wds[int32(wd)] = d
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		defer unix.Close(fd)
		buf := make([]byte, 256<<10)
		for {
			select {
			case <-done:
				return
			default:
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if n, _ := unix.Poll(pfd, 50); n <= 0 {
				continue
			}
			n, err := unix.Read(fd, buf)
			if err != nil {
				continue
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				// struct inotify_event: wd, mask, cookie, len, then the
				// name, padded with NULs.
				wd := int32(binary.NativeEndian.Uint32(buf[off:]))
				m := binary.NativeEndian.Uint32(buf[off+4:])
				l := int(binary.NativeEndian.Uint32(buf[off+12:]))
				name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+l]), "\x00")
				off += unix.SizeofInotifyEvent + l
				if m&mask != 0 && !event(wds[wd], name, m) {
					return
				}
			}
		}
	}()
	stop = sync.OnceFunc(func() {
		close(done)
		<-stopped
	})
	t.Cleanup(stop)
	return stop
}
