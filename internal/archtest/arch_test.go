// Package archtest enforces the dependency rules of docs/ARCHITECTURE.md:
// drivers import nothing of ours, the scheduler is pure, the config is a
// leaf, and only the agent (and cmd) know everything.
package archtest

import (
	"go/build"
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/veille/veille"

// allowed lists, per package prefix, which of our packages it may import.
// A package not listed may import only internal/clock.
var allowed = map[string][]string{
	"cmd/":                   {"*"},
	"internal/agent":         {"*"},
	"tests":                  {"*"},
	"tests/internal/peers":   {}, // the tests' peers and decoder: none from the code under test
	"internal/archtest":      {},
	"drivers/":               {},
	"scheduler":              {},
	"internal/config":        {},
	"internal/clock":         {},
	"internal/energy":        {},
	"internal/telemetry":     {},
	"internal/platform":      {},
	"internal/pisys":         {},
	"internal/activity":      {"internal/clock"},
	"internal/mqtt":          {"internal/telemetry", "internal/clock"},
	"internal/homeassistant": {"internal/telemetry", "internal/clock"},
	"internal/power":         {"drivers/usbdisk", "drivers/rtc", "internal/clock"},
	"systemd":                {},
}

// pure packages may not import anything that does I/O or starts goroutines.
var pure = map[string][]string{
	"scheduler": {"os", "io", "net", "os/exec", "syscall", "sync", "time/tzdata"},
}

func rule(rel string) ([]string, bool) {
	best, bestLen := []string(nil), -1
	for p, a := range allowed {
		match := rel == strings.TrimSuffix(p, "/") || strings.HasPrefix(rel, strings.TrimSuffix(p, "/")+"/")
		if match && len(p) > bestLen {
			best, bestLen = a, len(p)
		}
	}
	return best, bestLen >= 0
}

func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		p, err := build.Import(pkg, ".", 0)
		if err != nil {
			t.Errorf("%s: %v", pkg, err)
			continue
		}
		ok, known := rule(rel)
		if !known {
			t.Errorf("%s is not in the architecture rules (internal/archtest): add it with what it may import", rel)
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") {
				dep := strings.TrimPrefix(imp, module+"/")
				if !permitted(ok, dep) {
					t.Errorf("%s imports %s, which the architecture does not allow", rel, dep)
				}
			}
			for _, bad := range pure[rel] {
				if imp == bad {
					t.Errorf("%s must stay pure but imports %s", rel, imp)
				}
			}
		}
		if strings.HasPrefix(rel, "drivers/") {
			for _, imp := range p.Imports {
				if strings.Contains(imp, ".") && !strings.HasPrefix(imp, "periph.io/x/conn/v3") &&
					!strings.HasPrefix(imp, "golang.org/x/sys") && !strings.HasPrefix(imp, "periph.io/x/host/v3") {
					t.Errorf("driver %s imports %s: drivers use only the standard library, x/sys and periph", rel, imp)
				}
			}
		}
	}
}

func permitted(ok []string, dep string) bool {
	for _, a := range ok {
		if a == "*" || a == dep || path.Dir(dep) == strings.TrimSuffix(a, "/") && strings.HasSuffix(a, "/") {
			return true
		}
	}
	return false
}
