package redis_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/redis"
)

// startReadOnlyReplica starts a private redis-server configured as a replica of a master that
// does not exist: it serves reads and refuses writes with READONLY. It is killed at cleanup.
func startReadOnlyReplica(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not in PATH (required in CI)")
		}
		t.Skip("redis-server is not in PATH")
	}
	addr := testenv.FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	_, deadPort, _ := net.SplitHostPort(testenv.FreeAddr(t))
	cmd := exec.Command(bin, "--port", port, "--bind", host, "--save", "", "--appendonly", "no",
		"--replicaof", host, deadPort, "--replica-read-only", "yes", "--logfile", "")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	for range 100 {
		if c.Ping(context.Background()).Err() == nil {
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redis-server on %s did not answer", addr)
	return ""
}

func TestReadOnlyReplicaRefusesWritesWithErrReadOnly(t *testing.T) {
	ctx := context.Background()
	addr := startReadOnlyReplica(t)
	b, err := redis.New(ctx, redis.Options{URL: "redis://" + addr + "/0", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := storage.Scope{Resource: "r", Parent: "p"}

	if err := b.Ping(ctx, true); err != nil {
		t.Errorf("readonly ping: %v", err)
	}
	if _, err := b.Get(ctx, s, "x"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("get = %v, want ErrNotFound (reads work)", err)
	}
	writes := []struct {
		name string
		call func() error
	}{
		{"the first timestamp read of a collection", func() error { _, err := b.Timestamp(ctx, s); return err }},
		{"a create", func() error { _, err := b.Create(ctx, s, storage.Object{}); return err }},
		{"a write ping", func() error { return b.Ping(ctx, false) }},
	}
	for _, tt := range writes {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var be *storage.BackendError
			if !errors.As(err, &be) || be.Backend != "redis" {
				t.Fatalf("error %v, want a redis *storage.BackendError", err)
			}
			if !errors.Is(err, storage.ErrReadOnly) {
				t.Errorf("error %v does not match storage.ErrReadOnly", err)
			}
		})
	}
}
