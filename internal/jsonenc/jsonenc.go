// Package jsonenc appends JSON strings to a byte slice without reflection, exactly as
// protocol.MarshalJSON (encoding/json with HTML escaping off) or json.Marshal (HTML escaping
// on) encodes them. It serves the hand-written encoders on hot paths: the batch response,
// the mozlog JSON logger and the resource's object data.
package jsonenc

import "unicode/utf8"

const hex = "0123456789abcdef"

// AppendString appends s to buf as a JSON string, quotes included, the way encoding/json
// does without HTML escaping: '"' and '\\' are backslash-escaped, control characters become
// \b, \f, \n, \r, \t or \u00XX, U+2028 and U+2029 become \u2028 and \u2029, each byte of
// invalid UTF-8 becomes \ufffd, and '/', '<', '>' and '&' are written as they are.
func AppendString(buf []byte, s string) []byte { return appendString(buf, s, false) }

// AppendStringHTML appends s to buf as json.Marshal encodes it: as [AppendString] does,
// except that '<', '>' and '&' are written \u003c, \u003e and \u0026.
func AppendStringHTML(buf []byte, s string) []byte { return appendString(buf, s, true) }

func appendString(buf []byte, s string, html bool) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && (!html || b != '<' && b != '>' && b != '&') {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '"', '\\':
				buf = append(buf, '\\', b)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			buf = append(append(buf, s[start:i]...), `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			buf = append(append(buf, s[start:i]...), '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(buf, s[start:]...), '"')
}
