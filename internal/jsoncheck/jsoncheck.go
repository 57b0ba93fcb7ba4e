// Package jsoncheck finds, in request input, what encoding/json accepts but cliquet cannot
// store the same way on every backend: invalid UTF-8 (which the decoder turns into U+FFFD),
// UTF-16 escapes of lone surrogates (likewise), the NUL character (which PostgreSQL's jsonb
// and text columns cannot hold) and numbers out of float64 range (which PostgreSQL stores
// but the other backends, and the filters, cannot compare). The resource layer and the batch
// endpoint reject such input with a 400 before any backend sees it.
package jsoncheck

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text checks JSON text that encoding/json has already decoded without error (so that its
// syntax is valid): it returns an error describing the first string holding invalid UTF-8,
// a \u0000 escape or a lone surrogate escape, or the first number out of float64 range, with
// its byte offset; nil when there is none.
func Text(b []byte) error {
	if !utf8.Valid(b) {
		i := invalidUTF8(b)
		return fmt.Errorf("invalid UTF-8 (byte 0x%02x at offset %d)", b[i], i)
	}
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '"':
				inString = false
			case '\\':
				i++
				if i >= len(b) || b[i] != 'u' {
					continue // a one-character escape (or truncated text: not ours to report)
				}
				r, ok := hex4(b, i+1)
				if !ok {
					continue
				}
				start := i - 1
				i += 4
				switch {
				case r == 0:
					return fmt.Errorf(`the NUL character (\u0000 at offset %d) is not allowed`, start)
				case r >= 0xdc00 && r <= 0xdfff:
					return fmt.Errorf(`lone UTF-16 surrogate (\u%04x at offset %d)`, r, start)
				case r >= 0xd800 && r <= 0xdbff:
					if i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
						if low, ok := hex4(b, i+3); ok && low >= 0xdc00 && low <= 0xdfff {
							i += 6
							continue
						}
					}
					return fmt.Errorf(`lone UTF-16 surrogate (\u%04x at offset %d)`, r, start)
				}
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			exp := false
			for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
				exp = exp || b[j] == 'e' || b[j] == 'E'
				j++
			}
			// Without an exponent, only a number of more than 308 digits can overflow.
			if exp || j-i > 308 {
				if err := Number(string(b[i:j])); err != nil {
					return fmt.Errorf("%w (at offset %d)", err, i)
				}
			}
			i = j - 1
		}
	}
	return nil
}

// Number checks a JSON number: an error when it is out of float64 range.
func Number(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && math.IsInf(f, 0) {
		if len(s) > 40 {
			s = s[:37] + "..."
		}
		return fmt.Errorf("the number %s is out of range", s)
	}
	return nil
}

// String checks a string taken from the request outside JSON text (a querystring parameter,
// an id in the URL): an error when it holds invalid UTF-8 or the NUL character.
func String(s string) error {
	if !utf8.ValidString(s) {
		i := invalidUTF8([]byte(s))
		return fmt.Errorf("invalid UTF-8 (byte 0x%02x at offset %d)", s[i], i)
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("the NUL character (at offset %d) is not allowed", i)
	}
	return nil
}

// invalidUTF8 returns the offset of the first byte of b that starts no valid UTF-8 sequence.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// hex4 reads the four hexadecimal digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
