package resource

import (
	"encoding/json"
	"testing"
)

func TestWithPrincipalValues(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"an op without value gets its principal as value",
			`[{"op":"add","path":"/permissions/read/system.Authenticated"}]`,
			`[{"op":"add","path":"/permissions/read/system.Authenticated","value":"system.Authenticated"}]`},
		{"an escaped principal is unescaped in the value",
			`[{"op":"remove","path":"/permissions/write/~1buckets~1b~1groups~1g"}]`,
			`[{"op":"remove","path":"/permissions/write/~1buckets~1b~1groups~1g","value":"/buckets/b/groups/g"}]`},
		{"an unescaped group URI (kinto-http) is one principal, and its path is escaped",
			`[{"op":"add","path":"/permissions/write//buckets/b/groups/g"}]`,
			`[{"op":"add","path":"/permissions/write/~1buckets~1b~1groups~1g","value":"/buckets/b/groups/g"}]`},
		{"ops on data are left alone",
			`[{"op":"add","path":"/data/a/b","value":1}]`,
			`[{"op":"add","path":"/data/a/b","value":1}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ops []any
			if err := json.Unmarshal([]byte(tt.in), &ops); err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(withPrincipalValues(ops, []byte(tt.in)), &got); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal([]byte(tt.want), &want)
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}
