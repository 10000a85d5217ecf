package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/veille/veille/internal/mqtt"
)

func cmdListen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("listen", "--broker URL [--node NAME]", `
Subscribe to veille's telemetry (<prefix>/<node>/tele, compact CBOR) and print
each frame decoded as one JSON line, in plain units. A message that is not a
valid frame prints an error line naming its topic and size; nothing stops the
listener. Stop it with Ctrl-C.`, stderr)
	broker := fs.String("broker", "tcp://localhost:1883", "broker URL (tcp://host:1883, ssl://host:8883)")
	node := fs.String("node", "+", "node to listen to; + for every node")
	prefix := fs.String("prefix", mqtt.DefaultPrefix, "topic prefix")
	user := fs.String("username", "", "broker user name")
	passFile := fs.String("password-file", "", "file holding the broker password (never on the command line)")
	ca := fs.String("ca-file", "", "CA certificate that signed the broker's (TLS)")
	if done, err := parse(fs, args); done {
		return err
	}
	if err := brokerFlag(*broker, "--password-file"); err != nil {
		return err
	}
	opts := mqtt.ListenOptions{Prefix: *prefix, Node: *node,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	opts.Broker, opts.Username, opts.CAFile = *broker, *user, *ca
	if *passFile != "" {
		b, err := os.ReadFile(*passFile)
		if err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
		opts.Password = strings.TrimSpace(string(b))
	}
	return mqtt.Listen(ctx, opts, stdout)
}

// brokerFlag refuses a --broker URL that carries a password: a command line
// is readable by every user of the machine (ps, /proc/<pid>/cmdline) and
// stays in shell histories. The message does not repeat the URL.
func brokerFlag(raw, instead string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("--broker: not a URL (like tcp://192.168.1.10:1883)")
	}
	if _, has := u.User.Password(); has {
		return fmt.Errorf("--broker: the URL holds a password, which every user of this machine can read on a command line; give it in a file (%s)", instead)
	}
	return nil
}
