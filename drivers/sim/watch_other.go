//go:build !linux

package sim

// watcher is inotify on Linux; elsewhere the world reads every file veille
// may have written.
type watcher struct{}

func newWatcher() *watcher                           { return nil }
func (wt *watcher) add(abs, rel string)              {}
func (wt *watcher) changed() (map[string]bool, bool) { return nil, true }
func (wt *watcher) close()                           {}

func tmpfsDir() string { return "" }
