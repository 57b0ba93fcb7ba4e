// Package jsonnum keeps JSON numbers exact where float64 cannot: the resource layer reads
// filter values and page tokens with it, and the backends that compare in process (memory,
// Redis, the change feed's matcher) decode and compare data with it, as PostgreSQL's jsonb
// compares numbers.
//
// A JSON number is a float64 wherever float64 holds it exactly, and its literal (a
// json.Number) only where it does not: integers beyond 2^53 in magnitude, or more than 15
// significant digits. [Value] makes that choice, so the common case stays a float64 and
// costs nothing new. A float64 stands for its shortest decimal representation (what
// encoding/json writes for it, and what PostgreSQL then compares), so a float64 and a
// json.Number compare as two decimals, digit by digit: exactly, in time linear in their
// length, without big arithmetic.
package jsonnum

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"unsafe"
)

// ErrRange is returned by Value for a number beyond float64's range (1e400): encoding/json
// refuses to decode it into an any, and the toolkit keeps refusing it the same way.
var ErrRange = errors.New("jsonnum: number out of range")

// Value returns what the toolkit compares the JSON number lit as: a float64 when float64
// holds its value exactly (or when it is too small for float64's normal range, which
// encoding/json also rounds), and lit itself otherwise. It fails when lit is not a JSON
// number, or with ErrRange when its magnitude is beyond float64's.
func Value(lit json.Number) (any, error) {
	s := string(lit)
	if !Valid(s) {
		return nil, errors.New("jsonnum: invalid number " + strconv.Quote(s))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, ErrRange
	}
	if len(s) <= 15 || f == 0 || math.Abs(f) < 0x1p-1022 {
		// At most 15 characters hold at most 15 significant digits, which float64 keeps;
		// zero and the subnormals are what encoding/json has always made of them.
		return f, nil
	}
	var buf [32]byte
	if compareLiterals(s, text(strconv.AppendFloat(buf[:0], f, 'e', -1, 64))) == 0 {
		return f, nil
	}
	return lit, nil
}

// Decode decodes the JSON text b as encoding/json decodes it into an any, except for the
// numbers float64 does not hold exactly, which stay json.Number (see Value).
func Decode(b []byte) (any, error) {
	var v any
	if !MaybeInexact(b) {
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("jsonnum: data after the JSON value")
	}
	return Normalize(v)
}

// Of returns the number v (see IsNumber) in the form Value gives: a float64 as it is, an
// integer as a float64 when float64 holds it (2^53 in magnitude at most) and as its decimal
// json.Number beyond, a float32 as the float64 of its shortest form, a json.Number as Value
// makes it. ok is false when v is not a number; err is Value's.
func Of(v any) (n any, ok bool, err error) {
	switch x := v.(type) {
	case float64:
		return x, true, nil
	case json.Number:
		n, err := Value(x)
		return n, true, err
	case float32:
		f, err := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'e', -1, 32), 64)
		if err != nil {
			return nil, true, ErrRange
		}
		return f, true, nil
	}
	if i, ok := signed(v); ok {
		if i >= -1<<53 && i <= 1<<53 {
			return float64(i), true, nil
		}
		n, err := Value(json.Number(strconv.FormatInt(i, 10)))
		return n, true, err
	}
	if u, ok := unsigned(v); ok {
		if u <= 1<<53 {
			return float64(u), true, nil
		}
		n, err := Value(json.Number(strconv.FormatUint(u, 10)))
		return n, true, err
	}
	return nil, false, nil
}

// MaybeInexact reports whether the JSON text b may hold a number that float64 does not
// hold exactly: more than 15 characters that can make up a number, after a character that
// can come before a value (so that the digits and dashes of a UUID in a string do not
// count). When it does not, encoding/json's float64 decoding is exact, and cheaper than
// UseNumber and Normalize.
func MaybeInexact(b []byte) bool {
	run, counting := 0, false
	prev := byte(' ')
	for _, c := range b {
		if c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
			if run == 0 {
				counting = prev == ':' || prev == ',' || prev == '[' || prev == ' ' || prev == '\t' || prev == '\n' || prev == '\r'
			}
			run++
			if counting && run > 15 {
				return true
			}
		} else {
			run = 0
		}
		prev = c
	}
	return false
}

// Normalize replaces, in place, every json.Number in v (a value decoded by encoding/json
// with UseNumber: maps, slices, scalars) by its Value, and returns the result.
func Normalize(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return Value(x)
	case map[string]any:
		for k, e := range x {
			n, err := Normalize(e)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	case []any:
		for i, e := range x {
			n, err := Normalize(e)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	}
	return v, nil
}

// IsNumber reports whether v is a number Compare accepts: a float64 or float32, an integer
// of any Go type, or a json.Number.
func IsNumber(v any) bool {
	switch v.(type) {
	case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		return true
	}
	return false
}

// Compare orders two numbers (see IsNumber) by their exact decimal values and returns -1, 0
// or +1; a float stands for its shortest decimal representation. It returns 0 when either is
// not a number, or is an invalid json.Number.
func Compare(a, b any) int {
	if x, ok := a.(float64); ok {
		if y, ok := b.(float64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	var ba, bb [32]byte
	sa, oka := literal(a, ba[:0])
	sb, okb := literal(b, bb[:0])
	if !oka || !okb {
		return 0
	}
	return compareLiterals(sa, sb)
}

// literal returns the decimal literal of the number v: its own for a json.Number, otherwise
// written into buf. The returned string shares buf's memory (see text), so it must not
// outlive the caller's use of buf.
func literal(v any, buf []byte) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return string(n), Valid(string(n))
	case float64:
		return text(strconv.AppendFloat(buf, n, 'e', -1, 64)), !math.IsNaN(n) && !math.IsInf(n, 0)
	case float32:
		f := float64(n)
		return text(strconv.AppendFloat(buf, f, 'e', -1, 32)), !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	if i, ok := signed(v); ok {
		return text(strconv.AppendInt(buf, i, 10)), true
	}
	if u, ok := unsigned(v); ok {
		return text(strconv.AppendUint(buf, u, 10)), true
	}
	return "", false
}

// text views b as a string without copying it: the comparison only reads the literal while
// the caller's buffer is alive, and a copy would be the only allocation of a comparison.
func text(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Int64 returns v when it is an integer of a Go type (int, int8…int64, uint, uint8…uint64)
// whose value fits an int64.
func Int64(v any) (int64, bool) {
	if i, ok := signed(v); ok {
		return i, true
	}
	if u, ok := unsigned(v); ok && u <= math.MaxInt64 {
		return int64(u), true
	}
	return 0, false
}

func signed(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

func unsigned(v any) (uint64, bool) {
	switch n := v.(type) {
	case uint:
		return uint64(n), true
	case uint8:
		return uint64(n), true
	case uint16:
		return uint64(n), true
	case uint32:
		return uint64(n), true
	case uint64:
		return n, true
	}
	return 0, false
}

// Valid reports whether s is a JSON number (RFC 8259 section 6), as json.Marshal requires
// of a json.Number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func Valid(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// decimal is a number literal seen as sign × 0.d1d2…dn × 10^exp, d1 ≠ 0 and dn ≠ 0; the
// digits are read in place from the literal's integer and fraction parts.
type decimal struct {
	neg       bool
	int, frac string // the literal's digits before and after the point
	skip, n   int    // leading zeros to skip in int+frac, significant digits after them
	exp       int    // decimal exponent of the first significant digit, plus one
	zero      bool
}

// maxExp bounds the exponents the comparison reads; beyond, every literal is as large (or as
// small) as it can be. No float64 and no number PostgreSQL stores comes near it.
const maxExp = 1 << 30

// parse reads a literal that valid accepts (and the 'e' format of strconv).
func parse(s string) decimal {
	var d decimal
	if s != "" && s[0] == '-' {
		d.neg = true
		s = s[1:]
	}
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	d.int = s[:i]
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		d.frac = s[i+1 : j]
		i = j
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		neg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			neg = s[i] == '-'
			i++
		}
		for ; i < len(s); i++ {
			if exp < maxExp {
				exp = exp*10 + int(s[i]-'0')
			}
		}
		if neg {
			exp = -exp
		}
	}
	total := len(d.int) + len(d.frac)
	for d.skip < total && d.digit(d.skip) == '0' {
		d.skip++
	}
	if d.skip == total {
		d.zero = true
		return d
	}
	end := total
	for d.digit(end-1) == '0' {
		end--
	}
	d.n = end - d.skip
	d.exp = exp + len(d.int) - d.skip
	return d
}

// digit returns the i-th digit of int+frac.
func (d *decimal) digit(i int) byte {
	if i < len(d.int) {
		return d.int[i]
	}
	return d.frac[i-len(d.int)]
}

// compareLiterals orders two number literals by value.
func compareLiterals(a, b string) int {
	x, y := parse(a), parse(b)
	sx, sy := x.sign(), y.sign()
	if sx != sy {
		if sx < sy {
			return -1
		}
		return 1
	}
	if sx == 0 {
		return 0
	}
	c := compareMagnitudes(&x, &y)
	if sx < 0 {
		return -c
	}
	return c
}

func (d *decimal) sign() int {
	switch {
	case d.zero:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// compareMagnitudes orders two non-zero decimals by absolute value.
func compareMagnitudes(x, y *decimal) int {
	if x.exp != y.exp {
		if x.exp < y.exp {
			return -1
		}
		return 1
	}
	for i := 0; i < x.n && i < y.n; i++ {
		cx, cy := x.digit(x.skip+i), y.digit(y.skip+i)
		if cx != cy {
			if cx < cy {
				return -1
			}
			return 1
		}
	}
	switch {
	case x.n < y.n:
		return -1
	case x.n > y.n:
		return 1
	}
	return 0
}
