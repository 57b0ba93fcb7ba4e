package jsonobj

import "testing"

func TestWithoutKeepsTheOrder(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"z": 1, "id": "x", "a": {"y": [1, {"q": 2, "p": 3}], "b": null}, "last_modified": 3}`, `{"z":1,"a":{"y":[1,{"q":2,"p":3}],"b":null}}`},
		{`{"id": 1, "id": 2}`, `{}`},
		{`{}`, `{}`},
		{` {"deleted": true, "k\u00e9": "<v>"} `, `{"ké":"<v>"}`},
		{`{"n": 1e400}`, `{"n":1e400}`},
	} {
		got, err := Without([]byte(tc.in), "id", "last_modified", "deleted")
		if err != nil || string(got) != tc.want {
			t.Errorf("Without(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`[1]`, `{"a": }`, `{"a": 1} {}`, `null`, `"s"`, ``} {
		if got, err := Without([]byte(bad), "id"); err == nil {
			t.Errorf("Without(%s) = %s, want an error", bad, got)
		}
	}
}

func TestCloneCopiesMapsAndSlices(t *testing.T) {
	in := map[string]any{"a": []any{map[string]any{"b": "c"}}, "n": 1.0}
	out := Clone(in).(map[string]any)
	out["a"].([]any)[0].(map[string]any)["b"] = "changed"
	out["n"] = 2.0
	if in["a"].([]any)[0].(map[string]any)["b"] != "c" || in["n"] != 1.0 {
		t.Errorf("the clone shares memory with its original: %v", in)
	}
}
