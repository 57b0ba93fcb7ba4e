package cliquet

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the server run by [ListenAndServe].
const (
	serveReadHeaderTimeout = 10 * time.Second
	serveReadTimeout       = 30 * time.Second
	serveWriteTimeout      = 60 * time.Second
	serveIdleTimeout       = 120 * time.Second
	serveShutdownTimeout   = 15 * time.Second // for the requests in flight
)

// ListenAndServe serves h on the TCP address addr ("127.0.0.1:8888", ":0" for any free
// port) until ctx is cancelled, then shuts the server down gracefully: it stops accepting
// connections and waits up to 15 seconds for the requests in flight. The server has
// read-header, read, write and idle timeouts (10s, 30s, 60s and 120s), so that slow
// clients cannot hold connections forever, and logs its own errors (TLS handshakes, broken
// connections) at WARN on logger. It logs "listening" with the bound address and URL once
// the socket is open. logger nil means slog.Default().
//
// It returns nil after a graceful shutdown, and otherwise the error that stopped the
// server (the address is in use, the shutdown did not finish in time...). Programs usually
// derive ctx from signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM).
func ListenAndServe(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: serveReadHeaderTimeout,
		ReadTimeout:       serveReadTimeout,
		WriteTimeout:      serveWriteTimeout,
		IdleTimeout:       serveIdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	bound := ln.Addr().String()
	logger.InfoContext(ctx, "listening", "addr", bound, "url", "http://"+bound+"/")

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "addr", bound, "timeout", serveShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serveShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close() //nolint:errcheck // already failing; drop the remaining connections
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
