package cliquet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNoRetention is returned by [PurgeTombstones] when no retention is given and the
// tombstones_retention_seconds setting is not set.
var ErrNoRetention = errors.New("cliquet: purge: no retention: set tombstones_retention_seconds or give one")

// PurgeTombstones removes, from every collection of app's storage backend, the tombstones
// older than retention (storage.Backend.PurgeTombstones with now - retention), and returns
// how many it removed. A retention of 0 means the tombstones_retention_seconds setting, and
// fails with ErrNoRetention when it is not set either; a negative retention is an error.
// Each collection keeps its horizon, the newest timestamp of a tombstone purged from it:
// clients whose _since is older get 410 errno 203 and synchronise again from scratch. In
// readonly mode nothing is purged and an error is returned, as a write would be refused.
// It is what the purge command of cliquetcmd runs, and what the periodic job started by
// Initialize (tombstones_purge_interval_seconds) runs.
func PurgeTombstones(ctx context.Context, app *App, retention time.Duration) (int, error) {
	if retention < 0 {
		return 0, fmt.Errorf("cliquet: purge: negative retention %s", retention)
	}
	if retention == 0 {
		r, err := app.Settings.Seconds("tombstones_retention_seconds")
		if err != nil {
			return 0, err
		}
		if r <= 0 {
			return 0, ErrNoRetention
		}
		retention = r
	}
	if ro, _ := app.Settings.Bool("readonly"); ro {
		return 0, errors.New("cliquet: purge: readonly mode: nothing purged (run it from a read-write configuration)")
	}
	if app.Storage == nil {
		return 0, errors.New("cliquet: purge: no storage backend")
	}
	before := time.Now().Add(-retention)
	n, err := app.Storage.PurgeTombstones(ctx, before.UnixMilli())
	if err != nil {
		return n, fmt.Errorf("cliquet: purge: %w", err)
	}
	app.Logger.InfoContext(ctx, "tombstones purged", "count", n, "older_than", before.UTC().Format(time.RFC3339Nano),
		"retention_seconds", retention.Seconds())
	return n, nil
}

// purgeJob is the periodic tombstone purge of an App (tombstones_purge_interval_seconds).
type purgeJob struct {
	stop context.CancelFunc
	done sync.WaitGroup
}

// startPurgeJob starts the periodic purge when tombstones_purge_interval_seconds is
// positive: every interval, PurgeTombstones with the tombstones_retention_seconds setting,
// which must then be set. Every web head may run it: purges of one collection are
// serialised by the backend, and a second one finds nothing left to remove. It is not
// started in readonly mode. App.Close stops it.
func (a *App) startPurgeJob() error {
	interval, err := a.Settings.Seconds("tombstones_purge_interval_seconds")
	if err != nil || interval <= 0 {
		return err
	}
	retention, err := a.Settings.Seconds("tombstones_retention_seconds")
	if err != nil {
		return err
	}
	if retention <= 0 {
		return fmt.Errorf("cliquet: setting %q needs %q", "tombstones_purge_interval_seconds", "tombstones_retention_seconds")
	}
	if ro, _ := a.Settings.Bool("readonly"); ro {
		a.Logger.Warn("readonly mode: the periodic tombstone purge is not started")
		return nil
	}
	ctx, stop := context.WithCancel(context.Background())
	job := &purgeJob{stop: stop}
	job.done.Add(1)
	go func() {
		defer job.done.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := PurgeTombstones(ctx, a, retention); err != nil && ctx.Err() == nil {
				a.Logger.Warn("periodic tombstone purge failed", "error", err.Error())
			}
		}
	}()
	a.purge = job
	return nil
}

// stopPurgeJob stops the periodic purge, if it runs, and waits for a purge in progress.
func (a *App) stopPurgeJob() {
	if a.purge == nil {
		return
	}
	a.purge.stop()
	a.purge.done.Wait()
	a.purge = nil
}
