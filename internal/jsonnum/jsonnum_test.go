package jsonnum

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	for _, c := range []struct {
		lit  string
		want any
	}{
		{"0", 0.0},
		{"-0", math.Copysign(0, -1)},
		{"42", 42.0},
		{"-1.5", -1.5},
		{"1.10", 1.1},
		{"0.1", 0.1},
		{"1e-400", 0.0},                          // below the normal range: encoding/json's 0, as before
		{"9007199254740992", 9007199254740992.0}, // 2^53: exact
		{"9007199254740993", json.Number("9007199254740993")},
		{"-9007199254740993", json.Number("-9007199254740993")},
		// 2^64 is a float64, but one that stands for its shortest form, 1.8446744073709552e19.
		{"18446744073709551616", json.Number("18446744073709551616")},
		{"1.8446744073709552e19", 18446744073709551616.0},
		{"12345678901234567890", json.Number("12345678901234567890")},
		{"0.30000000000000004", 0.30000000000000004}, // shortest form of 0.1+0.2
		{"0.30000000000000001", json.Number("0.30000000000000001")},
		{"1.0000000000000000", 1.0},
		{"1.00000000000000000001", json.Number("1.00000000000000000001")},
		{"1e300", 1e300},
		{"123456789012345678e-3", json.Number("123456789012345678e-3")},
	} {
		got, err := Value(json.Number(c.lit))
		if err != nil {
			t.Errorf("Value(%s): %v", c.lit, err)
			continue
		}
		if f, ok := c.want.(float64); ok {
			g, isFloat := got.(float64)
			if !isFloat || g != f || math.Signbit(g) != math.Signbit(f) {
				t.Errorf("Value(%s) = %#v, want float64 %v", c.lit, got, f)
			}
			continue
		}
		if got != c.want {
			t.Errorf("Value(%s) = %#v, want %#v", c.lit, got, c.want)
		}
	}
	for _, bad := range []string{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "0x10", "1.5.2", "NaN", "1 "} {
		if _, err := Value(json.Number(bad)); err == nil || errors.Is(err, ErrRange) {
			t.Errorf("Value(%q) = %v, want an invalid-number error", bad, err)
		}
	}
	for _, huge := range []string{"1e400", "-1e309", "1e99999999999999999999"} {
		if _, err := Value(json.Number(huge)); !errors.Is(err, ErrRange) {
			t.Errorf("Value(%s) = %v, want ErrRange", huge, err)
		}
	}
}

func TestCompare(t *testing.T) {
	ordered := []any{ // strictly increasing
		json.Number("-1e999999999"),
		-1e300,
		json.Number("-12345678901234567890"),
		json.Number("-9007199254740993"),
		-9007199254740992.0,
		int64(-5),
		-1.5,
		json.Number("-0.30000000000000001"),
		-0.3,
		json.Number("-1e-400"),
		0,
		json.Number("1e-400"),
		5e-324,
		0.1,
		json.Number("0.10000000000000000001"),
		json.Number("0.3"),
		json.Number("0.30000000000000001"),
		0.30000000000000004,
		uint8(1),
		json.Number("1.00000000000000000001"),
		float32(1.5),
		int64(9007199254740991),
		9007199254740992.0,
		json.Number("9007199254740993"),
		int64(9007199254740994),
		json.Number("9007199254740995"),
		uint64(math.MaxUint64),
		json.Number("18446744073709551616.5"),
		1e300,
		json.Number("1e999999999"),
	}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := Compare(a, b); got != want {
				t.Errorf("Compare(%#v, %#v) = %d, want %d", a, b, got, want)
			}
		}
	}
	equal := [][2]any{
		{json.Number("0"), json.Number("-0.0e10")},
		{json.Number("1.5"), 1.5},
		{json.Number("15e-1"), json.Number("0.150E1")},
		{json.Number("9007199254740992"), int64(1 << 53)},
		{json.Number("100"), uint16(100)},
		{json.Number("1e2"), 100.0},
	}
	for _, p := range equal {
		if got := Compare(p[0], p[1]); got != 0 {
			t.Errorf("Compare(%#v, %#v) = %d, want 0", p[0], p[1], got)
		}
	}
}

// TestCompareAgreesWithBigRat checks the digit-by-digit comparison against exact rational
// arithmetic on random literals of every shape.
func TestCompareAgreesWithBigRat(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	digits := func(n int, lead bool) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		if lead && n > 0 && b[0] == '0' {
			b[0] = byte('1' + r.IntN(9))
		}
		return string(b)
	}
	lit := func() string {
		s := ""
		if r.IntN(2) == 0 {
			s = "-"
		}
		if r.IntN(4) == 0 {
			s += "0"
		} else {
			s += digits(1+r.IntN(20), true)
		}
		if r.IntN(2) == 0 {
			s += "." + digits(1+r.IntN(20), false)
		}
		if r.IntN(3) == 0 {
			s += "e" + []string{"", "+", "-"}[r.IntN(3)] + strconv.Itoa(r.IntN(40))
		}
		return s
	}
	for range 20000 {
		a, b := lit(), lit()
		if r.IntN(5) == 0 {
			b = a // equal values, often spelled the same
		}
		ra, _ := new(big.Rat).SetString(a)
		rb, _ := new(big.Rat).SetString(b)
		if got, want := Compare(json.Number(a), json.Number(b)), ra.Cmp(rb); got != want {
			t.Fatalf("Compare(%s, %s) = %d, want %d", a, b, got, want)
		}
		if f, err := strconv.ParseFloat(b, 64); err == nil {
			short, _ := new(big.Rat).SetString(strconv.FormatFloat(f, 'e', -1, 64))
			if got, want := Compare(json.Number(a), f), ra.Cmp(short); got != want {
				t.Fatalf("Compare(%s, float64 %v) = %d, want %d", a, f, got, want)
			}
		}
	}
}

func TestNormalizeInPlace(t *testing.T) {
	var v any
	d := json.NewDecoder(strings.NewReader(`{"a": [1, 9007199254740993, {"b": 2.5}], "c": "x"}`))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	got, err := Normalize(v)
	if err != nil {
		t.Fatal(err)
	}
	a := got.(map[string]any)["a"].([]any)
	if a[0] != 1.0 || a[1] != json.Number("9007199254740993") || a[2].(map[string]any)["b"] != 2.5 {
		t.Errorf("Normalize gave %#v", got)
	}
	if _, err := Normalize([]any{json.Number("1e400")}); !errors.Is(err, ErrRange) {
		t.Errorf("Normalize of 1e400: %v, want ErrRange", err)
	}
}

func BenchmarkValue(b *testing.B) {
	for _, lit := range []json.Number{"42", "1796622158775", "3.14159265358979", "9007199254740993"} {
		b.Run(string(lit), func(b *testing.B) {
			for range b.N {
				_, _ = Value(lit)
			}
		})
	}
}

func BenchmarkCompare(b *testing.B) {
	x, y := json.Number("9007199254740993"), 9007199254740992.0
	b.ReportAllocs()
	for range b.N {
		Compare(x, y)
	}
}

func TestMaybeInexact(t *testing.T) {
	for _, c := range []struct {
		json string
		want bool
	}{
		{`{"n": 9007199254740993}`, true},
		{`{"n":[1,12345678901234567890]}`, true},
		{`{"n": 0.100000000000000001}`, true},
		{`{"n": 1.5e300, "m": -12345678901234}`, false},
		{`{"m": -123456789012345}`, true}, // 16 characters: Value checks it (a float64)
		{`{"id": "00000000-0000-4000-8000-000000000032"}`, false},
		{`{"ref": "x-00000000-0000-4000-8000-000000000032"}`, false},
		{`{"t": 1796622158775, "s": "2026-12-07"}`, false},
	} {
		if got := MaybeInexact([]byte(c.json)); got != c.want {
			t.Errorf("MaybeInexact(%s) = %v, want %v", c.json, got, c.want)
		}
	}
	// Every text it clears decodes exactly with float64: fuzzed against Value.
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		n := strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(40)-20)), 'g', 1+r.IntN(20), 64)
		text := []byte(`{"n": ` + n + `}`)
		if MaybeInexact(text) {
			continue
		}
		v, err := Value(json.Number(n))
		if _, isFloat := v.(float64); err != nil || !isFloat {
			t.Fatalf("MaybeInexact cleared %s, whose Value is %#v (%v)", text, v, err)
		}
	}
}

func TestValidAcceptsExactlyTheJSONNumbers(t *testing.T) {
	for _, s := range []string{
		"0", "-0", "1", "-1", "10", "0.5", "-0.5", "1e5", "1E5", "1e+5", "1e-5", "1.25E-07", "123456789012345678901234567890",
		"", "-", "+1", "01", "-01", "1.", ".5", "1e", "1e+", "1.e5", "0x10", " 1", "1 ", "1.5.5", "NaN", "Infinity", "1_000", "١",
	} {
		want := json.Valid([]byte(s)) && s != "" && strings.TrimSpace(s) == s && s[0] != '"' && s != "true" && s != "false" && s != "null"
		if got := Valid(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestInt64(t *testing.T) {
	for _, c := range []struct {
		v    any
		want int64
		ok   bool
	}{
		{int8(-3), -3, true}, {int64(math.MinInt64), math.MinInt64, true}, {uint32(7), 7, true},
		{uint64(math.MaxInt64), math.MaxInt64, true}, {uint64(math.MaxInt64) + 1, 0, false},
		{uint(math.MaxUint), 0, false}, {1.0, 0, false}, {json.Number("1"), 0, false}, {"1", 0, false},
	} {
		if got, ok := Int64(c.v); got != c.want || ok != c.ok {
			t.Errorf("Int64(%#v) = %d, %v; want %d, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}
