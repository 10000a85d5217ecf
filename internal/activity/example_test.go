package activity_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/veille/veille/internal/activity"
)

func ExampleSet() {
	// A root with the kernel files the checks read; on a Pi it is "/".
	root, err := os.MkdirTemp("", "activity")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	os.MkdirAll(filepath.Join(root, "proc", "812"), 0o755)
	os.WriteFile(filepath.Join(root, "proc", "loadavg"), []byte("2.10 1.80 0.90 3/210 4000\n"), 0o644)
	os.WriteFile(filepath.Join(root, "proc", "812", "comm"), []byte("rsync\n"), 0o644)
	os.WriteFile(filepath.Join(root, "proc", "812", "cmdline"), []byte("rsync\x00-a\x00"), 0o644)

	set := &activity.Set{Checks: []activity.Checker{
		&activity.Load{Root: root, Minutes: 5, Threshold: 1.5},
		&activity.Processes{Root: root, Names: activity.DefaultProcesses},
		&activity.Processes{Root: filepath.Join(root, "missing"), Names: []string{"borg"}},
	}}
	active, err := set.Run(context.Background(), time.Now())
	for _, a := range active {
		if a.Err != nil {
			fmt.Println(a.Check + ": failed, so counted as active")
			continue
		}
		fmt.Println(a)
	}
	fmt.Println("errors:", err != nil)
	// Output:
	// load: load 1.80 over 5 min (threshold 1.50)
	// processes: rsync running (pid 812)
	// processes: failed, so counted as active
	// errors: true
}
