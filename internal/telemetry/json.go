package telemetry

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends f as one line of JSON in human units (V, A, W, Wh, °C,
// RFC 3339 times) for `veille listen`, followed by a newline. A sample that
// could not be read is null. node names the sender (from the topic).
//
//	{"node":"pi","run":7,"seq":12,"start":"2026-01-02T03:04:05.000Z","interval_s":1,
//	 "samples":2,"t":[...],"channels":[{"id":0,"V":[5.102,5.101],"A":[...],
//	 "W":[...],"Wh":1234.567}],"status":{"soc_temp_C":48.7,...}}
func AppendJSON(dst []byte, node string, f *Frame) []byte {
	dst = append(dst, `{"node":`...)
	dst = appendJSONString(dst, node)
	dst = append(dst, `,"v":`...)
	dst = strconv.AppendInt(dst, Version, 10)
	dst = append(dst, `,"run":`...)
	dst = strconv.AppendUint(dst, uint64(f.Run), 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, uint64(f.Seq), 10)
	dst = append(dst, `,"start":`...)
	dst = appendTime(dst, f.Start)
	dst = append(dst, `,"interval_s":`...)
	dst = appendScaled(dst, int64(f.Interval), 3)
	dst = append(dst, `,"samples":`...)
	dst = strconv.AppendInt(dst, int64(f.Count), 10)
	dst = append(dst, `,"t":[`...)
	for i := range f.Count {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTime(dst, f.SampleTime(i))
	}
	dst = append(dst, `],"channels":[`...)
	for i := range f.Channels {
		c := &f.Channels[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendUint(dst, uint64(c.ID), 10)
		dst = appendColumn(dst, `,"V":[`, c.Samples, func(s *Sample) int32 { return s.MilliVolts })
		dst = appendColumn(dst, `,"A":[`, c.Samples, func(s *Sample) int32 { return s.MilliAmps })
		dst = appendColumn(dst, `,"W":[`, c.Samples, func(s *Sample) int32 { return s.MilliWatts })
		dst = append(dst, `,"Wh":`...)
		dst = appendScaledU(dst, c.EnergyMilliWh, 3)
		if c.Flags != 0 {
			dst = append(dst, `,"flags":`...)
			dst = appendJSONString(dst, c.Flags.String())
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `],"status":{`...)
	st := &f.Status
	comma := false
	field := func(name string) {
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = appendJSONString(dst, name)
		dst = append(dst, ':')
	}
	if st.HasSoCTemp {
		field("soc_temp_C")
		dst = appendScaled(dst, int64(st.SoCTemp), 1)
	}
	field("throttled")
	dst = appendJSONString(dst, "0x"+strconv.FormatUint(uint64(st.Throttled), 16))
	if st.Throttled != 0 {
		field("throttled_flags")
		dst = append(dst, '[')
		for i, n := range ThrottledFlags(st.Throttled) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, n)
		}
		dst = append(dst, ']')
	}
	field("scheduler")
	dst = appendJSONString(dst, st.Scheduler.String())
	field("disks")
	dst = append(dst, '[')
	for i, d := range st.Disks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, d.String())
	}
	dst = append(dst, "]}}\n"...)
	return dst
}

func appendColumn(dst []byte, head string, ss []Sample, pick func(*Sample) int32) []byte {
	dst = append(dst, head...)
	for i := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		if !ss[i].OK {
			dst = append(dst, "null"...)
			continue
		}
		dst = appendScaled(dst, int64(pick(&ss[i])), 3)
	}
	return append(dst, ']')
}

// appendScaled writes v / 10^exp as a decimal number without float rounding.
func appendScaled(dst []byte, v int64, exp int) []byte {
	if v < 0 {
		dst = append(dst, '-')
		return appendScaledU(dst, uint64(-v), exp)
	}
	return appendScaledU(dst, uint64(v), exp)
}

func appendScaledU(dst []byte, v uint64, exp int) []byte {
	var p uint64 = 1
	for range exp {
		p *= 10
	}
	dst = strconv.AppendUint(dst, v/p, 10)
	frac := v % p
	if frac == 0 {
		return dst
	}
	dst = append(dst, '.')
	digits := strconv.AppendUint(nil, frac+p, 10)[1:] // zero-padded
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	return append(dst, digits...)
}

func appendTime(dst []byte, ms int64) []byte {
	dst = append(dst, '"')
	dst = time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	return append(dst, '"')
}

// appendJSONString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			dst = append(dst, '\\', 'u', '0', '0', hex[r>>4&0xf], hex[r&0xf])
			if r > 0xff {
				dst = dst[:len(dst)-4]
				dst = append(dst, hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
			}
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
