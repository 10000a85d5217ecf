package image_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// publisher sends veille's MQTT commands from the host, through the port
// forward to the guest's mosquitto.
type publisher struct{ c paho.Client }

func dialMQTT(t *testing.T, port int) *publisher {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", port)).
		SetClientID("veille-image-test").SetConnectTimeout(10 * time.Second).SetAutoReconnect(true)
	c := paho.NewClient(opts)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		tok := c.Connect()
		if tok.WaitTimeout(15*time.Second) && tok.Error() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("MQTT connect to the guest's broker on 127.0.0.1:%d: %v", port, tok.Error())
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &publisher{c: c}
}

// Command publishes PRESS on veille/<node>/cmd/<name> (QoS 1).
func (p *publisher) Command(t *testing.T, node, name string) {
	t.Helper()
	topic := "veille/" + node + "/cmd/" + name
	tok := p.c.Publish(topic, 1, false, "PRESS")
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
	t.Logf("published PRESS on %s", topic)
}

// listener runs `veille listen` (the host's build) against the guest's
// broker and keeps what it prints.
type listener struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
	err bytes.Buffer
}

func startListen(t *testing.T, veille string, port int) *listener {
	t.Helper()
	l := &listener{}
	l.cmd = exec.Command(veille, "listen", "--broker", fmt.Sprintf("tcp://127.0.0.1:%d", port), "--node", "vmtest")
	stdout, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	l.cmd.Stderr = &lockedWriter{mu: &l.mu, w: &l.err}
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("veille listen: %v", err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.out.Write(sc.Bytes())
			l.out.WriteByte('\n')
			l.mu.Unlock()
		}
		close(done)
	}()
	t.Cleanup(func() {
		_ = l.cmd.Process.Kill()
		<-done
		_ = l.cmd.Wait()
	})
	return l
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (l *listener) Output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "stdout:\n" + l.out.String() + "stderr:\n" + l.err.String()
}

// frame is the part of `veille listen`'s JSON lines the test looks at.
type frame struct {
	Node     string `json:"node"`
	Seq      uint64 `json:"seq"`
	Channels []struct {
		ID int        `json:"id"`
		V  []*float64 `json:"V"`
		W  []*float64 `json:"W"`
	} `json:"channels"`
}

// Frames decodes every line printed so far; a line that is not a frame
// (veille listen reports undecodable messages as error lines) fails.
func (l *listener) Frames(t *testing.T) []frame {
	t.Helper()
	l.mu.Lock()
	text := l.out.String()
	l.mu.Unlock()
	var frames []frame
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		var f frame
		if err := json.Unmarshal([]byte(line), &f); err != nil || f.Node == "" {
			t.Errorf("veille listen printed a line that is not a frame: %s (%v)", line, err)
			continue
		}
		frames = append(frames, f)
	}
	return frames
}
