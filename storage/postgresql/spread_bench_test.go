package postgresql

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

// BenchmarkSpreadCreates measures Create over 1,000 warm collections from 50 concurrent
// writers, with the write pipeline (default workers, grouped creates), with the pipeline on
// 6 workers (the default before it followed the CPUs: a quarter of the pool of 25), and
// without it (each write on a pooled connection of its own). Compare writes/s; run with
// -benchtime 5s.
func BenchmarkSpreadCreates(b *testing.B) {
	const collections = 1000
	for _, c := range []struct {
		name    string
		workers int
	}{{"pipeline", 0}, {"pipeline6", 6}, {"nopipeline", -1}, {"pipeline#2", 0}, {"pipeline6#2", 6}, {"nopipeline#2", -1}} {
		b.Run(c.name, func(b *testing.B) {
			be := newTestBackend(b, Options{URL: testDatabase(b, "storage_pg_test_bench"), PoolSize: 25, WriteWorkers: c.workers})
			res := fmt.Sprintf("spread-%d", time.Now().UnixNano())
			spreadWrites(b, be, res, collections, func(ctx context.Context, s storage.Scope) error {
				_, err := be.Create(ctx, s, storage.Object{Data: []byte(`{"title":"a bookmark","url":"https://example.com"}`)})
				return err
			})
			if be.pipe != nil {
				b.ReportMetric(float64(be.pipe.writes.Load())/float64(max(be.pipe.pipelines.Load(), 1)), "writes/pipeline")
				b.ReportMetric(float64(be.pipe.grouped.Load())/float64(max(be.pipe.writes.Load(), 1)), "grouped/write")
			}
		})
	}
}
