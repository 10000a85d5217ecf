package homeassistant

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Home Assistant's discovery rules, written down from its MQTT integration
// documentation (mqtt.markdown, <platform>.mqtt.markdown), the energy
// dashboard's validation (energy/validate.py) and the abbreviation table
// (mqtt/abbreviations.py). Only what a device like veille may use is here.

// abbrevEntity maps the abbreviations allowed at the root of a discovery
// payload and in each component to their full keys.
var abbrevEntity = map[string]string{
	"avty": "availability", "avty_mode": "availability_mode", "avty_t": "availability_topic",
	"avty_tpl": "availability_template", "cmd_t": "command_topic", "cmd_tpl": "command_template",
	"cmps": "components", "def_ent_id": "default_entity_id", "dev": "device", "dev_cla": "device_class",
	"e": "encoding", "en": "enabled_by_default", "ent_cat": "entity_category", "ent_pic": "entity_picture",
	"evt_typ": "event_types", "exp_aft": "expire_after", "frc_upd": "force_update", "ic": "icon",
	"json_attr_t": "json_attributes_topic", "json_attr_tpl": "json_attributes_template",
	"lrst_t": "last_reset_topic", "lrst_val_tpl": "last_reset_value_template", "migr_discvry": "migrate_discovery",
	"o": "origin", "obj_id": "object_id", "ops": "options", "opt": "optimistic", "p": "platform",
	"pl_avail": "payload_available", "pl_not_avail": "payload_not_available", "pl_off": "payload_off",
	"pl_on": "payload_on", "pl_prs": "payload_press", "pl_rst": "payload_reset", "ret": "retain",
	"stat_cla": "state_class", "stat_off": "state_off", "stat_on": "state_on", "stat_t": "state_topic",
	"stat_tpl": "state_template", "stat_val_tpl": "state_value_template", "sug_dsp_prc": "suggested_display_precision",
	"t": "topic", "uniq_id": "unique_id", "unit_of_meas": "unit_of_measurement", "val_tpl": "value_template",
}

// abbrevDevice and abbrevOrigin are the abbreviations inside the device and
// origin blocks.
var abbrevDevice = map[string]string{
	"cns": "connections", "cu": "configuration_url", "ids": "identifiers", "mf": "manufacturer",
	"mdl": "model", "mdl_id": "model_id", "hw": "hw_version", "sw": "sw_version", "sa": "suggested_area",
	"sn": "serial_number",
}

var abbrevOrigin = map[string]string{"sw": "sw_version", "url": "support_url"}

// knownPlatforms and what each requires (after expansion).
var requiredKeys = map[string][]string{
	"sensor":        {"state_topic"},
	"binary_sensor": {"state_topic"},
	"button":        {"command_topic"},
	"switch":        {"command_topic"},
	"number":        {"command_topic"},
	"select":        {"command_topic", "options"},
	"text":          {"command_topic"},
	"event":         {"state_topic", "event_types"},
}

// rootKeys are what the root of a device payload may hold: the device, the
// origin, the components and the options shared by every component.
var rootKeys = []string{"device", "origin", "components", "availability", "availability_mode", "availability_template",
	"availability_topic", "payload_available", "payload_not_available", "state_topic", "command_topic", "qos", "encoding"}

// veille's command vocabulary and its payloads (docs/homeassistant.md).
var commandPayloads = map[string]string{
	"sleep_now": "PRESS", "sleep_disks": "PRESS", "wake_disks": "PRESS", "reboot": "PRESS",
	"shutdown": "PRESS", "refresh": "PRESS", "schedule": "ON/OFF", "stay_awake": "0..72",
}

// haExpect is what the checker needs to know about the node.
type haExpect struct {
	prefix string // topic prefix, "veille"
	node   string
	// states holds the latest JSON on each state topic the entities read
	// (state and schedule), for the value_template paths.
	states map[string][]byte
}

func (e haExpect) status() string   { return e.prefix + "/" + e.node + "/status" }
func (e haExpect) schedule() string { return e.prefix + "/" + e.node + "/schedule" }

// entity is one component after expansion of its abbreviations.
type entity struct {
	key, platform string
	cfg           map[string]any
}

// style records which keys were written short and which long, anywhere in
// the payload: Home Assistant takes both, Domoticz and others refuse a
// payload that mixes them.
type style struct{ short, long []string }

func (s *style) note(where string, m map[string]any, table map[string]string) {
	full := map[string]bool{}
	for k, v := range table {
		if k != v {
			full[v] = true
		}
	}
	for k := range m {
		switch {
		case table[k] != "" && table[k] != k:
			s.short = append(s.short, where+k)
		case full[k]:
			s.long = append(s.long, where+k)
		}
	}
}

func (s *style) problems() []string {
	if len(s.short) > 0 && len(s.long) > 0 {
		sort.Strings(s.short)
		sort.Strings(s.long)
		return []string{fmt.Sprintf("mixes abbreviated keys (%s) with full keys (%s): use one style", clip(s.short), clip(s.long))}
	}
	return nil
}

func clip(xs []string) string {
	if len(xs) > 4 {
		return strings.Join(xs[:4], ", ") + fmt.Sprintf(" and %d more", len(xs)-4)
	}
	return strings.Join(xs, ", ")
}

// expand returns m with its abbreviated keys written in full.
func expand(m map[string]any, table map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if full, ok := table[k]; ok {
			k = full
		}
		out[k] = v
	}
	return out
}

// checkDevicePayload checks a device-based discovery payload
// (<discovery prefix>/device/<node>/config) and returns its entities.
func checkDevicePayload(payload []byte, e haExpect) ([]entity, []string) {
	var root map[string]any
	if err := json.Unmarshal(payload, &root); err != nil {
		return nil, []string{"payload is not a JSON object: " + err.Error()}
	}
	var probs []string
	var st style
	st.note("", root, abbrevEntity)
	if _, ok := root["~"]; ok {
		probs = append(probs, "root has a base topic \"~\": Home Assistant applies it per component only; write topics in full")
	}
	r := expand(root, abbrevEntity)
	for k := range r {
		if k != "~" && !slices.Contains(rootKeys, k) {
			probs = append(probs, fmt.Sprintf("root key %q is not allowed at the root of a device payload", k))
		}
	}
	probs = append(probs, checkDeviceOrigin(r, &st, "")...)
	cmps, ok := r["components"].(map[string]any)
	if !ok || len(cmps) == 0 {
		probs = append(probs, "no components")
	}
	var ents []entity
	keys := make([]string, 0, len(cmps))
	for k := range cmps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		c, ok := cmps[key].(map[string]any)
		if !ok {
			probs = append(probs, fmt.Sprintf("component %s is not an object", key))
			continue
		}
		st.note("cmps."+key+".", c, abbrevEntity)
		noteAvailability(&st, "cmps."+key+".", c)
		cfg := expand(c, abbrevEntity)
		platform, _ := cfg["platform"].(string)
		if platform == "" {
			probs = append(probs, fmt.Sprintf("component %s has no platform (p)", key))
			continue
		}
		if _, ok := cfg["device"]; ok {
			probs = append(probs, fmt.Sprintf("component %s overrides the device, which device discovery does not allow", key))
		}
		if _, ok := cfg["origin"]; ok {
			probs = append(probs, fmt.Sprintf("component %s overrides the origin, which device discovery does not allow", key))
		}
		delete(cfg, "platform")
		ents = append(ents, entity{key: key, platform: platform, cfg: cfg})
	}
	probs = append(probs, checkEntities(ents, e)...)
	probs = append(probs, st.problems()...)
	return ents, probs
}

// checkComponentPayloads checks per-entity discovery
// (<discovery prefix>/<platform>/<node>/<object id>/config, one per entity).
func checkComponentPayloads(msgs map[string][]byte, discoveryPrefix string, e haExpect) ([]entity, []string) {
	topicRE := regexp.MustCompile(`^` + regexp.QuoteMeta(discoveryPrefix) + `/(\w+)/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)/config$`)
	var probs []string
	var ents []entity
	var st style
	var ids []string
	topics := make([]string, 0, len(msgs))
	for t := range msgs {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, topic := range topics {
		m := topicRE.FindStringSubmatch(topic)
		if m == nil {
			probs = append(probs, fmt.Sprintf("%s is not <prefix>/<platform>/<node_id>/<object_id>/config with [a-zA-Z0-9_-] ids", topic))
			continue
		}
		var c map[string]any
		if err := json.Unmarshal(msgs[topic], &c); err != nil {
			probs = append(probs, fmt.Sprintf("%s: not a JSON object: %v", topic, err))
			continue
		}
		st.note(m[3]+".", c, abbrevEntity)
		noteAvailability(&st, m[3]+".", c)
		if _, ok := c["~"]; ok {
			probs = append(probs, topic+": has a base topic \"~\"; write topics in full")
		}
		cfg := expand(c, abbrevEntity)
		probs = append(probs, checkDeviceOrigin(cfg, &st, m[3]+": ")...)
		if dev, ok := expand(asMap(cfg["device"]), abbrevDevice)["identifiers"]; ok {
			ids = append(ids, fmt.Sprint(dev))
		}
		delete(cfg, "device")
		delete(cfg, "origin")
		ents = append(ents, entity{key: m[3], platform: m[1], cfg: cfg})
	}
	for _, id := range ids {
		if id != ids[0] {
			probs = append(probs, fmt.Sprintf("entities name different devices (%s, %s): they would not group", ids[0], id))
			break
		}
	}
	probs = append(probs, checkEntities(ents, e)...)
	probs = append(probs, st.problems()...)
	return ents, probs
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func noteAvailability(st *style, where string, c map[string]any) {
	for _, k := range []string{"avty", "availability"} {
		if list, ok := c[k].([]any); ok {
			for i, a := range list {
				if am, ok := a.(map[string]any); ok {
					st.note(fmt.Sprintf("%s%s[%d].", where, k, i), am, abbrevEntity)
				}
			}
		}
	}
}

// checkDeviceOrigin checks the device and origin blocks of cfg (expanded).
func checkDeviceOrigin(cfg map[string]any, st *style, where string) []string {
	var probs []string
	dev, ok := cfg["device"].(map[string]any)
	if !ok {
		return append(probs, where+"no device block (dev)")
	}
	st.note(where+"dev.", dev, abbrevDevice)
	d := expand(dev, abbrevDevice)
	switch ids := d["identifiers"].(type) {
	case string:
		if ids == "" {
			probs = append(probs, where+"device identifiers are empty")
		}
	case []any:
		if len(ids) == 0 {
			probs = append(probs, where+"device identifiers are empty")
		}
		for _, id := range ids {
			if s, _ := id.(string); s == "" {
				probs = append(probs, fmt.Sprintf("%sdevice identifier %v is not a non-empty string", where, id))
			}
		}
	default:
		if _, ok := d["connections"]; !ok {
			probs = append(probs, where+"device has neither identifiers nor connections")
		}
	}
	if name, _ := d["name"].(string); name == "" {
		probs = append(probs, where+"device has no name")
	}
	o, ok := cfg["origin"].(map[string]any)
	if !ok {
		return append(probs, where+"no origin block (o), which device discovery requires")
	}
	st.note(where+"o.", o, abbrevOrigin)
	if name, _ := expand(o, abbrevOrigin)["name"].(string); name == "" {
		probs = append(probs, where+"origin has no name")
	}
	return probs
}

var (
	valueJSONRE = regexp.MustCompile(`value_json((?:\.[A-Za-z_][A-Za-z0-9_]*|\[['"][^'"]+['"]\])+)`)
	simpleTplRE = regexp.MustCompile(`^\{\{\s*value_json((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\}\}$`)
	// '{{ 'A' if value_json.x else 'B' }}'
	choiceTplRE = regexp.MustCompile(`^\{\{\s*'([^']*)'\s+if\s+value_json((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s+else\s+'([^']*)'\s*\}\}$`)
	energyUnits = []string{"Wh", "kWh"}
	unitsOf     = map[string][]string{
		"power": {"W", "kW"}, "voltage": {"V", "mV"}, "current": {"A", "mA"},
		"temperature": {"°C", "°F", "K"}, "weight": {"g", "kg"}, "duration": {"s", "min", "h", "d"},
	}
)

// path splits a value_json access into its keys.
func path(access string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\.([A-Za-z_][A-Za-z0-9_]*)|\[['"]([^'"]+)['"]\]`).FindAllStringSubmatch(access, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

// lookup follows keys through a decoded JSON document.
func lookup(doc any, keys []string) (any, bool) {
	for _, k := range keys {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		if doc, ok = m[k]; !ok {
			return nil, false
		}
	}
	return doc, true
}

// checkEntities applies the per-entity rules.
func checkEntities(ents []entity, e haExpect) []string {
	var probs []string
	uids := map[string]string{}
	docs := map[string]any{}
	for topic, b := range e.states {
		var d any
		if err := json.Unmarshal(b, &d); err != nil {
			probs = append(probs, fmt.Sprintf("%s does not hold JSON (%v): templates cannot read it", topic, err))
			continue
		}
		docs[topic] = d
	}
	for _, en := range ents {
		bad := func(format string, args ...any) {
			probs = append(probs, fmt.Sprintf("%s (%s): %s", en.key, en.platform, fmt.Sprintf(format, args...)))
		}
		c := en.cfg
		req, known := requiredKeys[en.platform]
		if !known {
			bad("unknown platform")
		}
		for _, k := range req {
			if _, ok := c[k]; !ok {
				bad("required key %s missing", k)
			}
		}
		uid, _ := c["unique_id"].(string)
		if uid == "" {
			bad("no unique_id")
		} else if other, dup := uids[uid]; dup {
			bad("unique_id %q is also %s's", uid, other)
		} else {
			uids[uid] = en.key
		}
		if _, ok := c["object_id"]; ok {
			bad("object_id is deprecated (ignored from Home Assistant 2026.4); use default_entity_id or nothing")
		}
		if id, ok := c["default_entity_id"].(string); ok && !strings.HasPrefix(id, en.platform+".") {
			bad("default_entity_id %q must be a full entity id starting with %q", id, en.platform+".")
		}
		if _, ok := c["~"]; ok {
			bad("uses a base topic \"~\"; write topics in full")
		}
		// Topics: no wildcards; the node's own topics under <prefix>/<node>/.
		for _, k := range []string{"state_topic", "command_topic", "availability_topic", "json_attributes_topic"} {
			v, ok := c[k]
			if !ok {
				continue
			}
			s, _ := v.(string)
			if s == "" || strings.ContainsAny(s, "+#") || !strings.HasPrefix(s, e.prefix+"/"+e.node+"/") {
				bad("%s %q is not a topic of the node (%s/%s/…)", k, v, e.prefix, e.node)
			}
		}
		if ct, ok := c["command_topic"].(string); ok {
			name, found := strings.CutPrefix(ct, e.prefix+"/"+e.node+"/cmd/")
			if _, known := commandPayloads[name]; !found || !known {
				bad("command_topic %q is not one of veille's commands", ct)
			}
		}
		probs = append(probs, checkAvailability(en, e)...)
		if ec, ok := c["entity_category"].(string); ok {
			if ec != "diagnostic" && (ec != "config" || en.platform == "sensor" || en.platform == "binary_sensor") {
				bad("entity_category %q is not allowed here", ec)
			}
		}
		if v, ok := c["expire_after"]; ok {
			if f, isNum := v.(float64); !isNum || f <= 0 || f != float64(int(f)) {
				bad("expire_after %v is not a positive number of seconds", v)
			}
		}
		probs = append(probs, checkPlatform(en, bad)...)
		probs = append(probs, checkTemplates(en, docs, bad)...)
	}
	return probs
}

func checkAvailability(en entity, e haExpect) []string {
	c := en.cfg
	var topics []string
	if t, ok := c["availability_topic"].(string); ok {
		topics = append(topics, t)
	}
	if list, ok := c["availability"].([]any); ok {
		for _, a := range list {
			am := expand(asMap(a), abbrevEntity)
			t, _ := am["topic"].(string)
			topics = append(topics, t)
			if p, ok := am["payload_available"]; ok && p != "online" {
				return []string{fmt.Sprintf("%s: availability payload_available %v, but veille says \"online\"", en.key, p)}
			}
		}
	}
	var probs []string
	for _, t := range topics {
		if t != e.status() {
			probs = append(probs, fmt.Sprintf("%s: availability topic %q, want %q", en.key, t, e.status()))
		}
	}
	if p, ok := c["payload_available"]; ok && p != "online" {
		probs = append(probs, fmt.Sprintf("%s: payload_available %v, but veille says \"online\"", en.key, p))
	}
	if p, ok := c["payload_not_available"]; ok && p != "offline" {
		probs = append(probs, fmt.Sprintf("%s: payload_not_available %v, but veille says \"offline\"", en.key, p))
	}
	st, _ := c["state_topic"].(string)
	switch {
	case len(topics) == 0 && st != e.schedule():
		probs = append(probs, fmt.Sprintf("%s: no availability: it would show stale values while veille is away", en.key))
	case len(topics) > 0 && st == e.schedule():
		probs = append(probs, fmt.Sprintf("%s: reads the retained schedule but has availability: it would be unavailable exactly while the Pi sleeps", en.key))
	}
	return probs
}

func checkPlatform(en entity, bad func(string, ...any)) []string {
	c := en.cfg
	class, _ := c["device_class"].(string)
	unit, hasUnit := c["unit_of_measurement"].(string)
	stateClass, hasStateClass := c["state_class"].(string)
	switch en.platform {
	case "sensor":
		if hasStateClass && !slices.Contains([]string{"measurement", "measurement_angle", "total", "total_increasing"}, stateClass) {
			bad("state_class %q is not a state class", stateClass)
		}
		switch class {
		case "energy":
			// The Energy dashboard: device class energy, an energy unit,
			// a total state class (a decrease reads as a meter reset).
			if !slices.Contains(energyUnits, unit) {
				bad("energy sensor unit %q, want Wh or kWh", unit)
			}
			if stateClass != "total_increasing" {
				bad("energy sensor state_class %q, want total_increasing", stateClass)
			}
		case "timestamp":
			if hasUnit || hasStateClass {
				bad("a timestamp sensor has no unit and no state class")
			}
		case "enum":
			ops, _ := c["options"].([]any)
			if len(ops) == 0 {
				bad("an enum sensor needs options")
			}
			if hasUnit || hasStateClass {
				bad("an enum sensor has no unit and no state class")
			}
		case "":
		default:
			if units, ok := unitsOf[class]; ok && !slices.Contains(units, unit) {
				bad("device_class %s with unit %q, want one of %v", class, unit, units)
			}
		}
		if stateClass == "measurement" && !hasUnit {
			bad("a measurement without a unit")
		}
	case "button":
		if p, ok := c["payload_press"]; ok && p != "PRESS" {
			bad("payload_press %v, veille takes PRESS", p)
		}
		if class != "" && !slices.Contains([]string{"identify", "restart", "update"}, class) {
			bad("button device_class %q", class)
		}
	case "switch":
		if p, ok := c["payload_on"]; ok && p != "ON" {
			bad("payload_on %v, veille takes ON", p)
		}
		if p, ok := c["payload_off"]; ok && p != "OFF" {
			bad("payload_off %v, veille takes OFF", p)
		}
	case "number":
		lo, hi, step := num(c["min"], 1), num(c["max"], 100), num(c["step"], 1)
		if lo < 0 || hi > 72 || lo >= hi || step < 0.001 {
			bad("min %v max %v step %v: veille takes 0..72 hours", lo, hi, step)
		}
		if m, ok := c["mode"].(string); ok && !slices.Contains([]string{"auto", "box", "slider"}, m) {
			bad("mode %q", m)
		}
	case "event":
		types, _ := c["event_types"].([]any)
		if len(types) == 0 {
			bad("an event entity needs event_types")
		}
		for _, ty := range types {
			if s, _ := ty.(string); s == "" {
				bad("event type %v is not a non-empty string", ty)
			}
		}
	}
	return nil
}

func num(v any, def float64) float64 {
	if f, ok := v.(float64); ok {
		return f
	}
	return def
}

// checkTemplates checks that every value_json path of the entity's
// templates exists in the JSON last published on the topic it reads, and
// that the value is what the entity can show.
func checkTemplates(en entity, docs map[string]any, bad func(string, ...any)) []string {
	c := en.cfg
	for _, pair := range [][2]string{{"value_template", "state_topic"}, {"json_attributes_template", "json_attributes_topic"}} {
		tpl, ok := c[pair[0]].(string)
		if !ok {
			continue
		}
		topic, _ := c[pair[1]].(string)
		doc, have := docs[topic]
		if !have {
			bad("%s reads %s, which veille has not published", pair[0], topic)
			continue
		}
		refs := valueJSONRE.FindAllStringSubmatch(tpl, -1)
		if len(refs) == 0 {
			bad("%s %q reads nothing from value_json", pair[0], tpl)
		}
		for _, ref := range refs {
			if _, ok := lookup(doc, path(ref[1])); !ok {
				bad("%s reads value_json%s, which is not in the JSON on %s", pair[0], ref[1], topic)
			}
		}
		if pair[0] != "value_template" {
			continue
		}
		if m := simpleTplRE.FindStringSubmatch(tpl); m != nil {
			v, _ := lookup(doc, path(m[1]))
			checkValue(en, v, bad)
		}
		if m := choiceTplRE.FindStringSubmatch(tpl); m != nil {
			on, off := "ON", "OFF"
			if s, ok := c["state_on"].(string); ok {
				on = s
			} else if s, ok := c["payload_on"].(string); ok {
				on = s
			}
			if s, ok := c["state_off"].(string); ok {
				off = s
			} else if s, ok := c["payload_off"].(string); ok {
				off = s
			}
			if m[1] != on || m[3] != off {
				bad("template gives %q/%q, the entity expects %q/%q", m[1], m[3], on, off)
			}
			if v, _ := lookup(doc, path(m[2])); v != nil {
				if _, isBool := v.(bool); !isBool {
					bad("value_json%s is %v, not a boolean", m[2], v)
				}
			}
		}
	}
	return nil
}

// checkValue checks a value a simple template gives against the entity.
func checkValue(en entity, v any, bad func(string, ...any)) {
	c := en.cfg
	class, _ := c["device_class"].(string)
	stateClass, _ := c["state_class"].(string)
	switch {
	case en.platform == "number":
		f, ok := v.(float64)
		if !ok || f < num(c["min"], 1) || f > num(c["max"], 100) {
			bad("state %v is not a number within min..max", v)
		}
	case class == "energy" || stateClass == "total_increasing":
		if f, ok := v.(float64); !ok || f < 0 {
			bad("total state %v is not a number ≥ 0", v)
		}
	case stateClass == "measurement":
		if _, ok := v.(float64); !ok && v != nil {
			bad("measurement %v is neither a number nor null", v)
		}
	case class == "enum":
		s, _ := v.(string)
		ops, _ := c["options"].([]any)
		if !slices.Contains(ops, any(s)) {
			bad("state %v is not one of its options %v", v, ops)
		}
	case class == "timestamp":
		if v == nil {
			return
		}
		s, _ := v.(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			bad("timestamp %v is not ISO 8601 with a time zone", v)
		}
	case en.platform == "sensor":
		if _, ok := v.(string); !ok && v != nil {
			if _, isNum := v.(float64); !isNum {
				bad("state %v is neither text nor a number", v)
			}
		}
	}
}

// TestRulesCatchMistakes feeds the checker payloads that each break one rule:
// a checker that passes everything would prove nothing.
func TestRulesCatchMistakes(t *testing.T) {
	e := haExpect{prefix: "veille", node: "nas", states: map[string][]byte{
		"veille/nas/state":    []byte(`{"ch":{"pi":{"w":3.5,"kwh":1.25}},"disks":{"media":"active"},"on":true}`),
		"veille/nas/schedule": []byte(`{"next_sleep":"2026-03-10T21:30:00+01:00","next_wake":null}`),
	}}
	good := func() map[string]any {
		return map[string]any{
			"device": map[string]any{"identifiers": []any{"veille_nas"}, "name": "nas"},
			"origin": map[string]any{"name": "veille"},
			"components": map[string]any{
				"pi_power": map[string]any{"platform": "sensor", "unique_id": "nas_pi_power", "state_topic": "veille/nas/state",
					"availability_topic": "veille/nas/status", "value_template": "{{ value_json.ch.pi.w }}",
					"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"},
				"pi_energy": map[string]any{"platform": "sensor", "unique_id": "nas_pi_energy", "state_topic": "veille/nas/state",
					"availability_topic": "veille/nas/status", "value_template": "{{ value_json.ch.pi.kwh }}",
					"device_class": "energy", "unit_of_measurement": "kWh", "state_class": "total_increasing"},
				"next_sleep": map[string]any{"platform": "sensor", "unique_id": "nas_next_sleep", "state_topic": "veille/nas/schedule",
					"value_template": "{{ value_json.next_sleep }}", "device_class": "timestamp"},
				"disk": map[string]any{"platform": "sensor", "unique_id": "nas_disk", "state_topic": "veille/nas/state",
					"availability_topic": "veille/nas/status", "value_template": "{{ value_json.disks.media }}",
					"device_class": "enum", "options": []any{"active", "standby"}},
				"sw": map[string]any{"platform": "switch", "unique_id": "nas_sw", "command_topic": "veille/nas/cmd/schedule",
					"state_topic": "veille/nas/state", "availability_topic": "veille/nas/status",
					"value_template": "{{ 'ON' if value_json.on else 'OFF' }}"},
				"btn": map[string]any{"platform": "event", "unique_id": "nas_btn", "state_topic": "veille/nas/event",
					"availability_topic": "veille/nas/status", "event_types": []any{"short"}},
			},
		}
	}
	check := func(p map[string]any) []string {
		b, _ := json.Marshal(p)
		_, probs := checkDevicePayload(b, e)
		return probs
	}
	if probs := check(good()); len(probs) > 0 {
		t.Fatalf("a valid payload is refused: %q", probs)
	}
	cmp := func(p map[string]any, k string) map[string]any {
		return p["components"].(map[string]any)[k].(map[string]any)
	}
	cases := []struct {
		name, want string
		edit       func(p map[string]any)
	}{
		{"root ~", `base topic "~"`, func(p map[string]any) { p["~"] = "veille/nas" }},
		{"object_id", "object_id is deprecated", func(p map[string]any) { cmp(p, "pi_power")["object_id"] = "pi_power" }},
		{"obj_id", "object_id is deprecated", func(p map[string]any) { cmp(p, "pi_power")["obj_id"] = "pi_power" }},
		{"no unique_id", "no unique_id", func(p map[string]any) { delete(cmp(p, "pi_power"), "unique_id") }},
		{"duplicate unique_id", "is also", func(p map[string]any) { cmp(p, "pi_energy")["unique_id"] = "nas_pi_power" }},
		{"no identifiers", "neither identifiers", func(p map[string]any) { delete(p["device"].(map[string]any), "identifiers") }},
		{"no origin name", "origin has no name", func(p map[string]any) { p["origin"] = map[string]any{"sw": "1"} }},
		{"no origin", "no origin block", func(p map[string]any) { delete(p, "origin") }},
		{"no state_topic", "required key state_topic", func(p map[string]any) { delete(cmp(p, "pi_power"), "state_topic") }},
		{"event without types", "required key event_types", func(p map[string]any) { delete(cmp(p, "btn"), "event_types") }},
		{"energy in W", `unit "W", want Wh or kWh`, func(p map[string]any) { cmp(p, "pi_energy")["unit_of_measurement"] = "W" }},
		{"energy measurement", "want total_increasing", func(p map[string]any) { cmp(p, "pi_energy")["state_class"] = "measurement" }},
		{"missing path", "not in the JSON", func(p map[string]any) { cmp(p, "pi_power")["value_template"] = "{{ value_json.ch.pi.watts }}" }},
		{"enum value", "not one of its options", func(p map[string]any) { cmp(p, "disk")["options"] = []any{"standby"} }},
		{"availability", "no availability", func(p map[string]any) { delete(cmp(p, "pi_power"), "availability_topic") }},
		{"availability topic", "availability topic", func(p map[string]any) { cmp(p, "pi_power")["availability_topic"] = "veille/nas/lwt" }},
		{"schedule availability", "unavailable exactly while the Pi sleeps", func(p map[string]any) {
			cmp(p, "next_sleep")["availability_topic"] = "veille/nas/status"
		}},
		{"mixed style", "mixes abbreviated keys", func(p map[string]any) {
			c := cmp(p, "pi_power")
			c["stat_t"] = c["state_topic"]
			delete(c, "state_topic")
		}},
		{"mixed device style", "mixes abbreviated keys", func(p map[string]any) { p["dev"] = p["device"]; delete(p, "device") }},
		{"unknown command", "not one of veille's commands", func(p map[string]any) { cmp(p, "sw")["command_topic"] = "veille/nas/cmd/exec" }},
		{"switch template", "the entity expects", func(p map[string]any) {
			cmp(p, "sw")["value_template"] = "{{ 'on' if value_json.on else 'off' }}"
		}},
		{"unknown root key", "not allowed at the root", func(p map[string]any) { p["name"] = "x" }},
		{"unknown platform", "unknown platform", func(p map[string]any) { cmp(p, "btn")["platform"] = "teleporter" }},
	}
	for _, tc := range cases {
		p := good()
		tc.edit(p)
		probs := check(p)
		found := false
		for _, pr := range probs {
			found = found || strings.Contains(pr, tc.want)
		}
		if !found {
			t.Errorf("%s: the checker did not say %q; it said %q", tc.name, tc.want, probs)
		}
	}
	// A fully abbreviated payload is one style too.
	short := `{"dev":{"ids":["veille_nas"],"name":"nas"},"o":{"name":"veille"},"cmps":{"p":{"p":"sensor","uniq_id":"nas_p",` +
		`"stat_t":"veille/nas/state","avty_t":"veille/nas/status","val_tpl":"{{ value_json.ch.pi.w }}","dev_cla":"power",` +
		`"unit_of_meas":"W","stat_cla":"measurement"}}}`
	if _, probs := checkDevicePayload([]byte(short), e); len(probs) > 0 {
		t.Errorf("an abbreviated payload is refused: %q", probs)
	}
}
