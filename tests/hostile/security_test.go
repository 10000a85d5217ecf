package hostile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/veille/veille/tests/internal/peers"
)

// pki is a private certificate authority made for one test, with server
// certificates it signs, written as PEM files.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "veille test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), ca: ca, caKey: key}
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// server issues a server certificate for the given names (IP addresses or
// DNS names) and returns the mosquitto listener settings using it.
func (p *pki) server(t *testing.T, name string, hosts ...string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := p.write(t, name+".pem", "CERTIFICATE", der)
	keyFile := p.write(t, name+".key", "EC PRIVATE KEY", kder)
	return fmt.Sprintf("certfile %s\nkeyfile %s\n", cert, keyFile)
}

// tlsClient connects a test client to a TLS broker that the CA signed.
func (p *pki) client(t *testing.T, broker, id string) paho.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetAutoReconnect(false).
		SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(peers.Patience) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// runConfig writes a configuration for `veille run` on this machine that
// acts on nothing: no disks, no windows, simulated sensors, dry run.
func runConfig(t *testing.T, node, mqtt string) string {
	t.Helper()
	dir := t.TempDir()
	doc := fmt.Sprintf(`version = 1
node = %q
state_dir = %q
dry_run = true
[[sensor]]
name = "pi"
chip = "ina226"
address = 0x40
shunt_resistance = "10mΩ"
max_current = "5A"
[schedule]
enabled = false
[checks]
ports = []
processes = []
[power]
eeprom_check = false
[simulation]
sensors = true
[mqtt]
%s
`, node, filepath.Join(dir, "state"), mqtt)
	path := filepath.Join(dir, "veille.toml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTLSVerification: against a TLS broker whose certificate a private CA
// signed, veille refuses to connect unless it is given that CA (ca_file):
// verification is on by default, and the host name is checked too.
func TestTLSVerification(t *testing.T) {
	p := newPKI(t)
	broker := peers.Mosquitto(t, &peers.MosquittoOpts{Listener: p.server(t, "server", "127.0.0.1", "localhost")}).URL()
	wrongName := peers.Mosquitto(t, &peers.MosquittoOpts{Listener: p.server(t, "other", "127.0.0.2", "broker.invalid")}).URL()
	if !strings.HasPrefix(broker, "ssl://") {
		t.Fatalf("broker %s is not TLS", broker)
	}

	t.Run("no ca_file", func(t *testing.T) {
		v := peers.Start(t, "run", "--config", runConfig(t, "tls1", fmt.Sprintf("broker = %q", broker)))
		v.WaitStderr(regexp.MustCompile(`cannot connect to the MQTT broker.*(unknown authority|not trusted|certificate)`), peers.Patience)
		if strings.Contains(v.Stderr(), "connected to the MQTT broker") {
			t.Errorf("veille connected to a broker it cannot verify")
		}
	})
	t.Run("ca_file", func(t *testing.T) {
		v := peers.Start(t, "run", "--config", runConfig(t, "tls2", fmt.Sprintf("broker = %q\nca_file = %q", broker, p.caFile)))
		v.WaitStderr(regexp.MustCompile(`connected to the MQTT broker`), peers.Patience)
		c := p.client(t, broker, "tls-reader")
		got := make(chan string, 1)
		c.Subscribe("veille/tls2/status", 1, func(_ paho.Client, m paho.Message) {
			select {
			case got <- string(m.Payload()):
			default:
			}
		})
		select {
		case s := <-got:
			if s != "online" {
				t.Errorf("status %q over TLS, want online", s)
			}
		case <-time.After(peers.Patience):
			t.Errorf("nothing from veille over TLS")
		}
		if strings.Contains(v.Stderr(), "verification is OFF") {
			t.Errorf("veille says verification is off while it is on")
		}
	})
	t.Run("wrong host name", func(t *testing.T) {
		v := peers.Start(t, "run", "--config", runConfig(t, "tls3", fmt.Sprintf("broker = %q\nca_file = %q", wrongName, p.caFile)))
		v.WaitStderr(regexp.MustCompile(`cannot connect to the MQTT broker.*(broker\.invalid|not 127\.0\.0\.1|valid for)`), peers.Patience)
		if strings.Contains(v.Stderr(), "connected to the MQTT broker") {
			t.Errorf("veille connected to a broker whose certificate names another host")
		}
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		v := peers.Start(t, "run", "--config", runConfig(t, "tls4", fmt.Sprintf("broker = %q\ninsecure_skip_verify = true", broker)))
		v.WaitStderr(regexp.MustCompile(`connected to the MQTT broker`), peers.Patience)
		v.WaitStderr(regexp.MustCompile(`TLS certificate verification is OFF`), peers.Patience)
	})
	t.Run("listen", func(t *testing.T) {
		out, err := exec.Command(peers.Veille(t), "listen", "--broker", broker).CombinedOutput()
		if err == nil || !regexp.MustCompile(`(unknown authority|certificate)`).Match(out) {
			t.Errorf("veille listen without --ca-file: %v, %s; want a refusal naming the certificate", err, out)
		}
		l := peers.Start(t, "listen", "--broker", broker, "--ca-file", p.caFile, "--node", "tls5")
		pub := p.client(t, broker, "tls-pub")
		peers.WaitUntil(t, peers.Patience, "veille listen over TLS prints a frame", func() bool {
			tok := pub.Publish("veille/tls5/tele", 1, false, validFrame(t, 1, nil))
			tok.WaitTimeout(5 * time.Second)
			time.Sleep(100 * time.Millisecond)
			return strings.Contains(l.Stdout(), `"seq":1`)
		})
	})
}

// TestNoSecretsOnCommandLine: a password never goes on the command line,
// where every user sees it (ps, /proc/*/cmdline) and shells keep it: no
// subcommand has a flag for one (only for a file that holds it), and a
// broker URL carrying a password is refused, on the command line and in the
// configuration (the URL is logged).
func TestNoSecretsOnCommandLine(t *testing.T) {
	out, _ := exec.Command(peers.Veille(t), "-h").CombinedOutput()
	cmds := regexp.MustCompile(`(?m)^  veille (\w+)`).FindAllStringSubmatch(string(out), -1)
	if len(cmds) < 5 {
		t.Fatalf("veille -h lists %d commands:\n%s", len(cmds), out)
	}
	secret := regexp.MustCompile(`(?i)pass|secret|token|credential|key`)
	for _, c := range cmds {
		help, _ := exec.Command(peers.Veille(t), c[1], "-h").CombinedOutput()
		flags := regexp.MustCompile(`(?m)^  -([\w-]+)`).FindAllStringSubmatch(string(help), -1)
		for _, f := range flags {
			if secret.MatchString(f[1]) && !strings.HasSuffix(f[1], "-file") {
				t.Errorf("veille %s has a flag -%s that takes a secret on the command line", c[1], f[1])
			}
		}
	}

	const pw = "hunter2-s3cret"
	url := "tcp://veille:" + pw + "@127.0.0.1:1"
	for _, args := range [][]string{
		{"listen", "--broker", url},
		{"demo", "--broker", url, "--for", "2s"},
	} {
		cmd := exec.Command(peers.Veille(t), args...)
		b, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(b), "password") {
			t.Errorf("veille %s with a password in --broker: %v, %q; want a refusal pointing to a password file", args[0], err, b)
		}
		if strings.Contains(string(b), pw) {
			t.Errorf("veille %s repeats the password: %q", args[0], b)
		}
	}
	cfg := runConfig(t, "pw", fmt.Sprintf("broker = %q", url))
	b, err := exec.Command(peers.Veille(t), "check", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(b), "mqtt.broker") {
		t.Errorf("veille check with a password in mqtt.broker: %v, %q; want a refusal naming mqtt.broker", err, b)
	}
	if strings.Contains(string(b), pw) {
		t.Errorf("veille check repeats the password: %q", b)
	}
}

// TestConfigPermissions: a configuration that holds the MQTT password and
// that every user can read gets a warning naming the file and the fix;
// mode 0600, and 0640 (root:veille, as the package installs it), do not.
func TestConfigPermissions(t *testing.T) {
	const pw = "hunter2-s3cret"
	cases := []struct {
		mode os.FileMode
		warn bool
	}{{0o644, true}, {0o604, true}, {0o600, false}, {0o640, false}}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			cfg := runConfig(t, "perm", fmt.Sprintf("broker = \"tcp://127.0.0.1:1\"\nusername = \"veille\"\npassword = %q", pw))
			if err := os.Chmod(cfg, tc.mode); err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd := exec.Command(peers.Veille(t), "check", "-q", "--config", cfg)
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("veille check: %v: %s", err, stderr.String())
			}
			got := stderr.String()
			if strings.Contains(got, pw) {
				t.Errorf("the warning repeats the password: %q", got)
			}
			if !tc.warn {
				if got != "" {
					t.Errorf("mode %04o: unexpected warning %q", tc.mode, got)
				}
				return
			}
			if !strings.Contains(got, cfg) || !strings.Contains(got, "chmod") {
				t.Errorf("mode %04o: warning %q does not name the file and the fix (chmod)", tc.mode, got)
			}
			// The agent says it too, in its log.
			v := peers.Start(t, "run", "--config", cfg)
			v.WaitStderr(regexp.MustCompile(`level=WARN .*`+regexp.QuoteMeta(filepath.Base(cfg))+`.*chmod`), peers.Patience)
		})
	}
}

// TestCommandsOnlyForTheNode: with another prefix and node name, veille
// takes commands only on <prefix>/<node>/cmd/<name>: the same command on
// the default prefix, on another node or on a sibling topic does nothing.
func TestCommandsOnlyForTheNode(t *testing.T) {
	broker := peers.Mosquitto(t, nil).URL()
	rec := peers.Subscribe(t, broker, nil, "house/attic/state")
	cfg := peers.DemoConfig(t, `node = "demo"`, `node = "attic"`, "[mqtt]\n", "[mqtt]\ntopic_prefix = \"house\"\n")
	v := peers.QuietDemo(t, broker, "--config", cfg)
	rec.WaitFor("house/attic/state", 0, peers.Patience, "a state", func(m peers.Message) bool {
		return strings.Contains(string(m.Payload), `"schedule_enabled":true`)
	})
	ha := peers.Client(t, broker, "homeassistant")
	for _, topic := range []string{
		"veille/attic/cmd/schedule", "veille/demo/cmd/schedule", "house/demo/cmd/schedule",
		"house/attic/schedule", "house/attic/cmd/schedule/x", "house/+/cmd/schedule", "house/attic/state/cmd/schedule",
		"House/attic/cmd/schedule", "house/attic/CMD/schedule", "house/attic2/cmd/schedule",
	} {
		if strings.ContainsAny(topic, "+#") {
			continue // a publish topic has no wildcards: the broker would refuse it
		}
		peers.Publish(t, ha, topic, 1, false, []byte("OFF"))
	}
	peers.Publish(t, ha, "house/attic/cmd/stay_awake", 1, false, []byte("0"))
	v.WaitStderr(regexp.MustCompile(`msg="MQTT command" command="stay_awake 0s"`), peers.Patience)
	if n := strings.Count(v.Stderr(), `msg="MQTT command"`); n != 1 {
		t.Errorf("%d commands taken, want only the one on house/attic/cmd/", n)
	}
	if strings.Contains(v.Stderr(), `command="schedule OFF"`) {
		t.Errorf("a schedule OFF outside the node's command topics was taken")
	}
	mark := rec.Count()
	peers.Publish(t, ha, "house/attic/cmd/schedule", 1, false, []byte("OFF"))
	rec.WaitFor("house/attic/state", mark, peers.Patience, "schedule OFF on the node's own topic", func(m peers.Message) bool {
		return strings.Contains(string(m.Payload), `"schedule_enabled":false`)
	})
}
