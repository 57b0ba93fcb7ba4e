package resource

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// keyOrder is the order in which a JSON text wrote an object's keys, and the orders of the
// objects nested in it: sub holds them by key, and, for arrays, by element index in decimal
// ("0", "1"...). Objects are decoded into Go maps, which have no order; the encoder
// (marshalData) writes the keys back in this order, so that a client's objects keep their
// key order (Kinto's web admin lays its forms out in the order of a JSON schema's
// properties). The nil *keyOrder is valid: no known order (keys sorted).
type keyOrder struct {
	keys []string
	sub  map[string]*keyOrder
}

// child returns the order of the value under key k (nil when unknown).
func (o *keyOrder) child(k string) *keyOrder {
	if o == nil {
		return nil
	}
	return o.sub[k]
}

// orderOf returns the key orders of the JSON text raw, which must be valid JSON (the
// decoder checked it): nil when raw holds no object.
func orderOf(raw []byte) *keyOrder {
	s := orderScanner{raw: raw}
	s.skipSpace()
	o, _ := s.value()
	return o
}

// orderScanner walks a valid JSON text, recording the keys of its objects.
type orderScanner struct {
	raw []byte
	i   int
}

func (s *orderScanner) skipSpace() {
	for s.i < len(s.raw) {
		switch s.raw[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans the value at s.i and returns its key orders (nil for a scalar, or for a
// container holding no object); ok is false on malformed input.
func (s *orderScanner) value() (_ *keyOrder, ok bool) {
	if s.i >= len(s.raw) {
		return nil, false
	}
	switch s.raw[s.i] {
	case '{':
		return s.object()
	case '[':
		return s.array()
	case '"':
		_, ok := s.str()
		return nil, ok
	}
	for s.i < len(s.raw) { // a number, true, false or null
		switch s.raw[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return nil, true
		}
		s.i++
	}
	return nil, true
}

func (s *orderScanner) object() (*keyOrder, bool) {
	o := &keyOrder{}
	var (
		last     map[string]int // each key's last place, once there are 16 keys
		repeated bool
	)
	s.i++ // {
	for {
		s.skipSpace()
		if s.i >= len(s.raw) {
			return nil, false
		}
		if s.raw[s.i] == '}' {
			s.i++
			if repeated {
				o.keys = lastPlaces(o.keys, last)
			}
			return o, true
		}
		if s.raw[s.i] == ',' {
			s.i++
			s.skipSpace()
		}
		k, ok := s.str()
		if !ok {
			return nil, false
		}
		s.skipSpace()
		if s.i >= len(s.raw) || s.raw[s.i] != ':' {
			return nil, false
		}
		s.i++
		s.skipSpace()
		sub, ok := s.value()
		if !ok {
			return nil, false
		}
		// A repeated key counts at its last place, with its last value (as for the
		// decoder's map): the earlier places are dropped when the object ends.
		if last != nil {
			if _, dup := last[k]; dup {
				repeated = true
			}
			last[k] = len(o.keys)
		} else if slices.Contains(o.keys, k) {
			repeated = true
		}
		o.keys = append(o.keys, k)
		if len(o.keys) == 16 && last == nil { // then a set: many keys cost linear time
			last = make(map[string]int, 32)
			for i, k := range o.keys {
				last[k] = i
			}
		}
		if o.sub != nil {
			delete(o.sub, k)
		}
		if sub != nil {
			if o.sub == nil {
				o.sub = map[string]*keyOrder{}
			}
			o.sub[k] = sub
		}
	}
}

func (s *orderScanner) array() (*keyOrder, bool) {
	var o *keyOrder
	s.i++ // [
	for n := 0; ; n++ {
		s.skipSpace()
		if s.i >= len(s.raw) {
			return nil, false
		}
		if s.raw[s.i] == ']' {
			s.i++
			return o, true
		}
		if s.raw[s.i] == ',' {
			s.i++
			s.skipSpace()
		}
		sub, ok := s.value()
		if !ok {
			return nil, false
		}
		if sub != nil {
			if o == nil {
				o = &keyOrder{sub: map[string]*keyOrder{}}
			}
			o.sub[strconv.Itoa(n)] = sub
		}
	}
}

// str scans a string and returns its value.
func (s *orderScanner) str() (string, bool) {
	if s.i >= len(s.raw) || s.raw[s.i] != '"' {
		return "", false
	}
	start, escaped := s.i, false
	for s.i++; s.i < len(s.raw); s.i++ {
		switch s.raw[s.i] {
		case '\\':
			escaped = true
			s.i++
		case '"':
			s.i++
			lit := s.raw[start:s.i]
			if !escaped && utf8.Valid(lit) {
				return string(lit[1 : len(lit)-1]), true
			}
			// Escapes, or invalid UTF-8 (which the decoder replaced with U+FFFD, as here).
			var v string
			if err := json.Unmarshal(lit, &v); err != nil {
				return "", false
			}
			return v, true
		}
	}
	return "", false
}

// lastPlaces drops from keys every key that occurs again later; last holds each key's last
// index (nil: keys are few, found by scanning).
func lastPlaces(keys []string, last map[string]int) []string {
	out := keys[:0]
	for i, k := range keys {
		j := i
		if last != nil {
			j = last[k]
		} else {
			for n := len(keys) - 1; n > i; n-- {
				if keys[n] == k {
					j = n
					break
				}
			}
		}
		if j == i {
			out = append(out, k)
		}
	}
	return out
}

// mergeOrders returns the order of an object made from base and changed by extra (a merge
// patch, a patched document): base's keys keep their places, extra's new keys follow in
// extra's order, and nested orders merge the same way.
func mergeOrders(base, extra *keyOrder) *keyOrder {
	switch {
	case base == nil:
		return extra
	case extra == nil:
		return base
	}
	out := &keyOrder{keys: slices.Clone(base.keys)}
	known := make(map[string]bool, len(base.keys))
	for _, k := range base.keys {
		known[k] = true
	}
	for _, k := range extra.keys {
		if !known[k] {
			out.keys = append(out.keys, k)
		}
	}
	if len(base.sub)+len(extra.sub) > 0 {
		out.sub = make(map[string]*keyOrder, len(base.sub)+len(extra.sub))
		for k, v := range base.sub {
			out.sub[k] = v
		}
		for k, v := range extra.sub {
			out.sub[k] = mergeOrders(base.sub[k], v)
		}
	}
	return out
}
