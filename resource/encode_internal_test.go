package resource

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/protocol"
)

func TestMarshalDataEncodesLikeJSONMarshalOfTheStrippedData(t *testing.T) {
	decoded := func(t *testing.T, doc string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := decodeJSON([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	docs := []struct {
		name string
		doc  string
	}{
		{"an empty object", `{}`},
		{"only meta fields", `{"id":"x","last_modified":12,"deleted":true}`},
		{"meta fields among data", `{"title":"a","id":"x","last_modified":12,"deleted":false,"done":true}`},
		{"unsorted keys", `{"z":1,"a":2,"m":3,"B":4,"_":5,"é":6,"":7}`},
		{"every scalar", `{"s":"str","n":-1.5e+10,"i":42,"z":0,"t":true,"f":false,"nil":null}`},
		{"big and precise numbers", `{"big":123456789012345678901234567890,"exp":1E-7,"neg":-0.0}`},
		{"nested objects and arrays", `{"a":{"c":[1,{"y":null,"x":[]},"s"],"b":{}},"e":[[],[[]]]}`},
		{"more than sixteen keys", `{"k01":1,"k02":2,"k03":3,"k04":4,"k05":5,"k06":6,"k07":7,"k08":8,"k09":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k18":18}`},
		{"HTML characters, escapes and unicode in keys and values", `{"<k>&":"<a href=\"/x\">&amp;</a>","ctl":"\u0000\b\f\n\r\t\u001f\u007f","u":"\u2028\u2029 café 😀 \ud800"}`},
		{"meta field names nested deeper are kept", `{"child":{"id":"y","last_modified":1,"deleted":true}}`},
	}
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			m := decoded(t, d.doc)
			want, err := json.Marshal(stripMeta(m))
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalData(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	others := []struct {
		name string
		m    map[string]any
	}{
		{"a nil map", nil},
		{"a float64, as typed resources produce", map[string]any{"f": 1.5, "g": 1e21}},
		{"an int and a struct", map[string]any{"i": 3, "s": struct{ A string }{"<"}}},
		{"a nil nested map and a nil slice", map[string]any{"m": map[string]any(nil), "l": []any(nil)}},
		{"an empty json.Number", map[string]any{"n": json.Number("")}},
		{"typed slices and maps", map[string]any{"l": []string{"a"}, "m": map[string]string{"b": "c"}}},
	}
	for _, o := range others {
		t.Run(o.name, func(t *testing.T) {
			want, err := json.Marshal(stripMeta(o.m))
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalData(o.m, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	t.Run("an invalid json.Number fails as with json.Marshal", func(t *testing.T) {
		m := map[string]any{"n": json.Number("1 ")}
		if _, err := json.Marshal(m); err == nil {
			t.Fatal("json.Marshal accepted the number")
		}
		if _, err := marshalData(m, nil); err == nil {
			t.Error("marshalData accepted the number")
		}
	})
}

// Over a real connection, a response written by writeSmallJSON carries the Content-Length of
// its body and is not chunked, whether net/http computed the length (a small body) or the
// handler set it (a larger one).
func TestWriteSmallJSONSendsContentLength(t *testing.T) {
	for _, size := range []int{2, 500, smallBody, smallBody + 1, 10_000} {
		body := []byte(`"` + strings.Repeat("x", size-2) + `"`)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeSmallJSON(w, http.StatusCreated, body)
		}))
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != http.StatusCreated || resp.ContentLength != int64(size) || len(resp.TransferEncoding) != 0 ||
			len(got) != size || resp.Header.Get("Content-Type") != protocol.ContentTypeJSON {
			t.Errorf("%d-byte body: status %d, Content-Length %d, Transfer-Encoding %v, %d bytes read, Content-Type %q",
				size, resp.StatusCode, resp.ContentLength, resp.TransferEncoding, len(got), resp.Header.Get("Content-Type"))
		}
	}
}
