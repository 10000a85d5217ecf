package image_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmp is a minimal QEMU Machine Protocol client: enough to hot-plug and
// unplug a USB disk. QMP is JSON objects over a unix socket; replies carry
// "return" or "error", and asynchronous "event" objects may come between.
type qmp struct {
	conn net.Conn
	dec  *json.Decoder
	enc  *json.Encoder
	// Events seen while waiting for replies, in order (DEVICE_DELETED...).
	Events []string
}

type qmpMessage struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string          `json:"event"`
	QMP   json.RawMessage `json:"QMP"`
}

// dialQMP connects to QEMU's -qmp unix socket and leaves capabilities
// negotiation mode, as every QMP session must before its first command.
func dialQMP(path string, timeout time.Duration) (*qmp, error) {
	var conn net.Conn
	var err error
	deadline := time.Now().Add(timeout)
	for {
		conn, err = net.Dial("unix", path)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("qmp: dial %s: %w", path, err)
	}
	q := &qmp{conn: conn, dec: json.NewDecoder(bufio.NewReader(conn)), enc: json.NewEncoder(conn)}
	var greeting qmpMessage
	if err := q.read(&greeting, 10*time.Second); err != nil {
		conn.Close()
		return nil, fmt.Errorf("qmp: greeting: %w", err)
	}
	if greeting.QMP == nil {
		conn.Close()
		return nil, fmt.Errorf("qmp: %s did not greet with a QMP banner", path)
	}
	if _, err := q.Execute("qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmp) read(m *qmpMessage, timeout time.Duration) error {
	if err := q.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	return q.dec.Decode(m)
}

// Execute runs one command and returns its "return" value, or an error
// carrying QMP's error class and description.
func (q *qmp) Execute(command string, args any) (json.RawMessage, error) {
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	if err := q.conn.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	if err := q.enc.Encode(req); err != nil {
		return nil, fmt.Errorf("qmp: send %s: %w", command, err)
	}
	for {
		var m qmpMessage
		if err := q.read(&m, 30*time.Second); err != nil {
			return nil, fmt.Errorf("qmp: reply to %s: %w", command, err)
		}
		switch {
		case m.Event != "":
			q.Events = append(q.Events, m.Event)
		case m.Error != nil:
			return nil, fmt.Errorf("qmp: %s: %s: %s", command, m.Error.Class, m.Error.Desc)
		default:
			return m.Return, nil
		}
	}
}

func (q *qmp) Close() error { return q.conn.Close() }
