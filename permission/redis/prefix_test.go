package redis_test

import (
	"context"
	"testing"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/redis"
)

// fromSettings opens the backend registered as "redis" from settings on the test database.
func fromSettings(t *testing.T, values map[string]string) permission.Backend {
	t.Helper()
	values["permission_url"] = testURL(t)
	b, err := permission.Open(context.Background(), "redis", config.MustFromMap(values, config.Options{Env: []string{}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestPermissionPrefixSetting(t *testing.T) {
	ctx := context.Background()
	c := rawClient(t, testURL(t))

	t.Run("backends with different prefixes on one database do not see each other's ACEs", func(t *testing.T) {
		pa := testenv.UniquePrefix(t, "cliquet-permissiontest-a:")
		pb := testenv.UniquePrefix(t, "cliquet-permissiontest-b:")
		a := fromSettings(t, map[string]string{"permission_prefix": pa})
		b := fromSettings(t, map[string]string{"permission_prefix": pb})
		t.Cleanup(func() {
			a.Flush(ctx)
			b.Flush(ctx)
		})
		if err := a.AddPrincipalToACE(ctx, "/articles/1", "read", "alice"); err != nil {
			t.Fatal(err)
		}
		if err := a.AddUserPrincipal(ctx, "alice", "/groups/g"); err != nil {
			t.Fatal(err)
		}
		got, err := a.ObjectPermissions(ctx, "/articles/1")
		if err != nil || len(got["read"]) != 1 {
			t.Fatalf("a's own ACEs = %v, %v; want read: [alice]", got, err)
		}
		if got, err := b.ObjectPermissions(ctx, "/articles/1"); err != nil || len(got) != 0 {
			t.Errorf("b sees a's ACEs: %v, %v", got, err)
		}
		if got, err := b.UserPrincipals(ctx, "alice"); err != nil || len(got) != 0 {
			t.Errorf("b sees a's user principals: %v, %v", got, err)
		}
		if ok, err := b.CheckPermission(ctx, []string{"alice"}, []permission.Binding{{ObjectID: "/articles/1", Permission: "read"}}); err != nil || ok {
			t.Errorf("b grants a's permission: %v, %v", ok, err)
		}
		if ks := keys(ctx, t, c, pa+"*"); len(ks) == 0 {
			t.Errorf("no key under a's prefix %q", pa)
		}
		if ks := keys(ctx, t, c, pb+"*"); len(ks) != 0 {
			t.Errorf("keys under b's prefix %q: %q", pb, ks)
		}
	})
	t.Run("without the setting the keys start with permission:", func(t *testing.T) {
		b := fromSettings(t, map[string]string{})
		user := testenv.UniquePrefix(t, "cliquet-permissiontest-user-")
		if err := b.AddUserPrincipal(ctx, user, "/groups/g"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.RemoveUserPrincipal(ctx, user, "/groups/g") })
		if n := c.Exists(ctx, redis.DefaultPrefix+"user:"+user).Val(); n != 1 {
			t.Errorf("key %q missing", redis.DefaultPrefix+"user:"+user)
		}
	})
}
