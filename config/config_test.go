package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/config"
)

func load(t *testing.T, content string, opts config.Options) (*config.Settings, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.ini")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.Load(path, opts)
}

func noEnv() []string { return []string{} }

func TestPrecedence(t *testing.T) {
	ini := "[app:main]\nproject_name = kinto\npaginate_by = 10\nbackoff = 1\nstorage_url = ini\n"
	tests := []struct {
		name string
		env  []string
		key  string
		want string
	}{
		{"a default applies when nothing sets the key", nil, "retry_after_seconds", "30"},
		{"the file overrides the default", nil, "paginate_by", "10"},
		{"the project-prefixed environment overrides the file", []string{"KINTO_PAGINATE_BY=20"}, "paginate_by", "20"},
		{"CLIQUET_ overrides the project prefix", []string{"KINTO_BACKOFF=2", "CLIQUET_BACKOFF=3"}, "backoff", "3"},
		{"dots in keys become underscores in variable names", []string{"CLIQUET_MULTIAUTH_POLICIES=fxa"}, "multiauth.policies", "fxa"},
		{"unprefixed variables are ignored", []string{"STORAGE_URL=env"}, "storage_url", "ini"},
		{"an unknown key can come from the environment", []string{"CLIQUET_MY_SETTING=x"}, "my_setting", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if env == nil {
				env = noEnv()
			}
			s, err := load(t, ini, config.Options{Env: env, Defaults: map[string]string{"storage_url": "embedder"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(tt.key); got != tt.want {
				t.Errorf("%s = %q (from %s), want %q", tt.key, got, s.Origin(tt.key), tt.want)
			}
		})
	}
	t.Run("embedder defaults override the toolkit's and lose to the file", func(t *testing.T) {
		s, err := config.FromMap(map[string]string{}, config.Options{Env: noEnv(), Defaults: map[string]string{"retry_after_seconds": "5"}})
		if err != nil || s.String("retry_after_seconds") != "5" {
			t.Fatalf("%v %q", err, s.String("retry_after_seconds"))
		}
	})
	t.Run("Origin tells where a value came from", func(t *testing.T) {
		s, _ := load(t, ini, config.Options{Env: []string{"CLIQUET_BACKOFF=3"}})
		if o := s.Origin("backoff"); o != "environment (CLIQUET_BACKOFF)" {
			t.Errorf("Origin = %q", o)
		}
		if o := s.Origin("paginate_by"); !strings.Contains(o, "paginate_by") || !strings.Contains(o, "app.ini") {
			t.Errorf("Origin = %q", o)
		}
	})
}

func TestPrefixes(t *testing.T) {
	t.Run("cliquet. and project prefixes are stripped", func(t *testing.T) {
		s, err := config.FromMap(map[string]string{"project_name": "kinto", "cliquet.backoff": "1", "kinto.paginate_by": "5"}, config.Options{Env: noEnv()})
		if err != nil {
			t.Fatal(err)
		}
		if s.String("backoff") != "1" || s.String("paginate_by") != "5" {
			t.Errorf("backoff %q paginate_by %q", s.String("backoff"), s.String("paginate_by"))
		}
	})
	t.Run("two spellings with the same value are accepted", func(t *testing.T) {
		if _, err := config.FromMap(map[string]string{"project_name": "kinto", "backoff": "1", "kinto.backoff": "1"}, config.Options{Env: noEnv()}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("two spellings with different values are an error naming both keys", func(t *testing.T) {
		_, err := config.FromMap(map[string]string{"project_name": "kinto", "cliquet.backoff": "1", "kinto.backoff": "2"}, config.Options{Env: noEnv()})
		if err == nil || !strings.Contains(err.Error(), `"cliquet.backoff"`) || !strings.Contains(err.Error(), `"kinto.backoff"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("the project name comes from the options when not set", func(t *testing.T) {
		s, err := config.FromMap(map[string]string{"myapp.backoff": "4"}, config.Options{ProjectName: "myapp", Env: []string{"MYAPP_PAGINATE_BY=7"}})
		if err != nil {
			t.Fatal(err)
		}
		if s.String("backoff") != "4" || s.String("paginate_by") != "7" || s.String("project_name") != "myapp" {
			t.Errorf("backoff %q paginate_by %q project %q", s.String("backoff"), s.String("paginate_by"), s.String("project_name"))
		}
	})
}

func TestTypedAccessors(t *testing.T) {
	s := config.MustFromMap(map[string]string{
		"readonly": "yes", "paginate_by": "None", "backoff": "12", "heartbeat_timeout_seconds": "0.5",
		"cors_origins": "a, b\nc", "eos": "2030-01-31", "bad_bool": "perhaps", "bad_int": "ten",
	}, config.Options{Env: noEnv(), Kinds: map[string]config.Kind{"bad_bool": config.KindBool}})

	if v, err := s.Bool("readonly"); err != nil || !v {
		t.Errorf("Bool = %v %v", v, err)
	}
	if _, ok, err := s.OptionalInt("paginate_by"); ok || err != nil {
		t.Errorf("None is not unset: %v %v", ok, err)
	}
	if v, err := s.Int("backoff"); err != nil || v != 12 {
		t.Errorf("Int = %v %v", v, err)
	}
	if v, err := s.Seconds("heartbeat_timeout_seconds"); err != nil || v.Milliseconds() != 500 {
		t.Errorf("Seconds = %v %v", v, err)
	}
	if got := fmt.Sprint(s.List("cors_origins")); got != "[a b c]" {
		t.Errorf("List = %s", got)
	}
	if v, err := s.Timestamp("eos"); err != nil || v.Year() != 2030 {
		t.Errorf("Timestamp = %v %v", v, err)
	}

	errs := []struct {
		name string
		fn   func() error
		key  string
	}{
		{"a bad boolean names its key", func() error { _, err := s.Bool("bad_bool"); return err }, "bad_bool"},
		{"a bad integer names its key", func() error { _, err := s.Int("bad_int"); return err }, "bad_int"},
		{"a bad number of seconds names its key", func() error { _, err := s.Seconds("bad_int"); return err }, "bad_int"},
		{"a bad date names its key", func() error { _, err := s.Timestamp("bad_int"); return err }, "bad_int"},
		{"Check reports a declared kind's bad value", s.Check, "bad_bool"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn()
			if err == nil || !strings.Contains(err.Error(), `"`+tt.key+`"`) {
				t.Errorf("err = %v, want one naming %q", err, tt.key)
			}
		})
	}
	t.Run("Check accepts the defaults", func(t *testing.T) {
		if err := config.MustFromMap(nil, config.Options{Env: noEnv()}).Check(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Typed converts by kind", func(t *testing.T) {
		for key, want := range map[string]string{"readonly": "true", "paginate_by": "<nil>", "backoff": "12", "heartbeat_timeout_seconds": "0.5", "cors_origins": "[a b c]", "eos": "2030-01-31"} {
			v, err := s.Typed(key)
			if err != nil || fmt.Sprint(v) != want {
				t.Errorf("Typed(%s) = %v %v, want %s", key, v, err, want)
			}
		}
	})
	t.Run("With returns a modified copy", func(t *testing.T) {
		c := s.With("backoff", "1")
		if c.String("backoff") != "1" || s.String("backoff") != "12" {
			t.Errorf("With: copy %q original %q", c.String("backoff"), s.String("backoff"))
		}
	})
}

func TestFiles(t *testing.T) {
	t.Run("a Cliquet file with multiline values loads", func(t *testing.T) {
		s, err := config.Load("testdata/cliquet.ini", config.Options{Env: noEnv()})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"project_name":       "myapp",
			"storage_backend":    "cliquet.storage.postgresql",
			"paginate_by":        "100",
			"userid_hmac_secret": "b4c96a8692291d88fe5a97dd91846eb4",
			"multiauth.policies": "basicauth",
		}
		for k, v := range want {
			if s.String(k) != v {
				t.Errorf("%s = %q, want %q", k, s.String(k), v)
			}
		}
		if got := s.List("cors_origins"); len(got) != 2 || got[0] != "https://a.example" || got[1] != "https://b.example" {
			t.Errorf("cors_origins = %q", got)
		}
		if err := s.Check(); err != nil {
			t.Error(err)
		}
	})
	t.Run("a Kinto file loads, inline comments stripped", func(t *testing.T) {
		s, err := config.Load("testdata/kinto.ini", config.Options{Env: []string{"KINTO_BACKOFF=9"}})
		if err != nil {
			t.Fatal(err)
		}
		if s.String("userid_hmac_secret") != "4f2c" || s.String("backoff") != "9" || s.String("permission_backend") != "kinto.core.permission.memory" {
			t.Errorf("secret %q backoff %q permission %q", s.String("userid_hmac_secret"), s.String("backoff"), s.String("permission_backend"))
		}
	})
	t.Run("a missing file and a file without [app:main] are errors", func(t *testing.T) {
		if _, err := config.Load("testdata/missing.ini", config.Options{Env: noEnv()}); err == nil {
			t.Error("missing file accepted")
		}
		if _, err := load(t, "[server:main]\nport = 1\n", config.Options{Env: noEnv()}); err == nil || !strings.Contains(err.Error(), "app:main") {
			t.Errorf("err = %v", err)
		}
	})
}

func ExampleLoad() {
	s, err := config.Load("testdata/kinto.ini", config.Options{Env: []string{"KINTO_PAGINATE_BY=50"}})
	if err != nil {
		panic(err)
	}
	n, _ := s.Int("paginate_by")
	fmt.Println(s.String("project_name"), s.String("storage_backend"), n, s.Origin("paginate_by"))
	// Output:
	// kinto kinto.core.storage.postgresql 50 environment (KINTO_PAGINATE_BY)
}

func TestEverySettingIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for key := range config.Defaults() {
		if !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("docs/configuration.md does not document %s", key)
		}
	}
}
