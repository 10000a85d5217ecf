package image_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// vmOptions describe one boot of the arm64 image under QEMU (TCG).
type vmOptions struct {
	Disk    string // raw image, booted as a virtio disk with -snapshot
	Kernel  string // taken from the image's FAT partition
	Initrd  string
	Dir     string // console log, QMP socket, SCSI trace
	MQTT    int    // host port forwarded (127.0.0.1 only) to the guest's 1883
	RepoCmd string // guestfwd command for 10.0.2.100:80 (the local apt repo), or ""
}

// vm is a running QEMU whose serial console is read line by line.
type vm struct {
	t       *testing.T
	cmd     *exec.Cmd
	QMPPath string
	Trace   string

	mu    sync.Mutex
	lines []string
	grew  chan struct{} // closed and replaced whenever lines grows or QEMU exits
	next  int           // Expect scans from here
	log   *os.File

	exited  chan struct{}
	exitErr error
}

func startVM(t *testing.T, o vmOptions) *vm {
	t.Helper()
	v := &vm{
		t:       t,
		QMPPath: filepath.Join(o.Dir, "qmp.sock"),
		Trace:   filepath.Join(o.Dir, "scsi-trace.log"),
		grew:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	// Only loopback: restrict=on keeps the guest off every network but the
	// forwards below (hostfwd bound to 127.0.0.1, guestfwd to a local relay).
	netdev := fmt.Sprintf("user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:1883", o.MQTT)
	if o.RepoCmd != "" {
		netdev += ",guestfwd=tcp:10.0.2.100:80-cmd:" + o.RepoCmd
	}
	args := []string{
		"-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "1024",
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", o.Kernel, "-initrd", o.Initrd,
		// The image's own cmdline.txt is for a Pi (ttyS1); QEMU virt has a PL011.
		"-append", "root=LABEL=RASPIROOT rw rootwait console=ttyAMA0 net.ifnames=0 fsck.repair=yes",
		"-drive", "file=" + o.Disk + ",if=virtio,format=raw",
		"-snapshot",
		"-device", "qemu-xhci,id=xhci",
		// romfile=: no iPXE option ROM (not needed with -kernel; not installed).
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=net0,romfile=",
		"-qmp", "unix:" + v.QMPPath + ",server=on,wait=off",
		// SCSI commands the guest sends to the USB disk: START STOP UNIT is
		// opcode 0x1b ("command 27").
		"-trace", "scsi_req_parsed", "-D", v.Trace,
	}
	log, err := os.Create(filepath.Join(o.Dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	v.log = log
	v.cmd = exec.Command("qemu-system-aarch64", args...)
	v.cmd.Stderr = log
	out, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("qemu-system-aarch64 %s", strings.Join(args, " "))
	if err := v.cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	go v.read(out)
	t.Cleanup(func() {
		select {
		case <-v.exited:
		default:
			_ = v.cmd.Process.Kill()
			<-v.exited
		}
		log.Close()
		if t.Failed() {
			// The file has QEMU's own messages too (its stderr).
			b, _ := os.ReadFile(log.Name())
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			t.Logf("console and QEMU messages (last 150 lines):\n%s", strings.Join(lines[max(0, len(lines)-150):], "\n"))
		}
	})
	return v
}

func (v *vm) read(out io.Reader) {
	r := bufio.NewReader(out)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			line = strings.TrimRight(strings.ReplaceAll(line, "\r", ""), "\n")
			v.log.WriteString(line + "\n")
			v.mu.Lock()
			v.lines = append(v.lines, line)
			close(v.grew)
			v.grew = make(chan struct{})
			v.mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	v.exitErr = v.cmd.Wait()
	v.mu.Lock()
	close(v.exited)
	close(v.grew)
	v.grew = make(chan struct{})
	v.mu.Unlock()
}

var failLine = regexp.MustCompile(`VT: FAIL `)

// Expect waits for a console line matching re after the last one matched,
// and returns its submatches. A "VT: FAIL" line from the guest, QEMU
// exiting or the timeout fail the test.
func (v *vm) Expect(re *regexp.Regexp, timeout time.Duration) []string {
	v.t.Helper()
	deadline := time.After(timeout)
	for {
		v.mu.Lock()
		for ; v.next < len(v.lines); v.next++ {
			line := v.lines[v.next]
			if failLine.MatchString(line) {
				v.mu.Unlock()
				v.failed(line)
			}
			if m := re.FindStringSubmatch(line); m != nil {
				v.next++
				v.mu.Unlock()
				return m
			}
		}
		grew := v.grew
		v.mu.Unlock()
		select {
		case <-v.exited:
			v.mu.Lock()
			more := v.next < len(v.lines)
			v.mu.Unlock()
			if !more {
				v.t.Fatalf("QEMU exited (%v) before the console showed %q", v.exitErr, re)
			}
		case <-grew:
		case <-deadline:
			v.t.Fatalf("no console line matching %q within %s", re, timeout)
		}
	}
}

// failed fails the test on a guest's "VT: FAIL" line, after giving the
// guest up to 30 s to print its diagnostics (up to "VT: END").
func (v *vm) failed(line string) {
	v.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		v.mu.Lock()
		end := false
		for _, l := range v.lines[v.next:] {
			end = end || strings.Contains(l, "VT: END")
		}
		grew := v.grew
		v.mu.Unlock()
		if end {
			break
		}
		select {
		case <-grew:
			continue
		case <-v.exited:
		case <-deadline:
		}
		break
	}
	v.t.Fatalf("guest: %s", line)
}

// Reports returns the guest's indented report lines so far ("VT|  ..."):
// the journal excerpts the guest scripts print.
func (v *vm) Reports() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	for _, l := range v.lines {
		if i := strings.Index(l, "VT|  "); i >= 0 {
			b.WriteString(l[i+5:] + "\n")
		}
	}
	return b.String()
}

// WaitExit waits for QEMU to end by itself (the guest powered off).
func (v *vm) WaitExit(timeout time.Duration) error {
	select {
	case <-v.exited:
		return v.exitErr
	case <-time.After(timeout):
		return errors.New("QEMU still running after " + timeout.String())
	}
}

// run runs a host command and fails the test with its output if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
