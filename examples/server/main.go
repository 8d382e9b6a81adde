// Command server is an example host application for chatnotify: a
// net/http ServeMux that mounts the settings API, the Slack and Teams
// interaction webhooks, the Teams bot's messaging endpoint, and a few
// host-side endpoints (approvals, audit, events), configured by
// environment variables only. Run it with -h for
// the list. It uses chatnotify's public packages only, so a host can
// start from a copy of it.
//
//	go run ./examples/server            # SQLite file chatnotify.db, admin token printed
//	go run ./examples/server -sandbox   # plus fake Slack and Teams (a Teams bot included) and the /sandbox page
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	sandbox := flag.Bool("sandbox", false, "run fake Slack and Teams in-process and serve /sandbox")
	flag.Usage = func() { usage(flag.CommandLine.Output()) }
	flag.Parse()

	cfg := loadConfig(os.Getenv)
	if *sandbox {
		cfg.Sandbox = true
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger, os.Stdout); err != nil {
		logger.Error("server stopped", "err", err)
		os.Exit(1)
	}
}

// writeTimeout is the server's WriteTimeout: an answer not written by
// then is lost.
const writeTimeout = 30 * time.Second

// run serves until ctx is done, then shuts down gracefully: it stops
// accepting requests, lets those in flight finish, drains the delivery
// queue (posts, message updates, answers to Slack clicks) and only then
// closes the store.
func run(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + dialable(ln.Addr().String())
	}
	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	a.printBanner(stdout, ln.Addr().String())
	a.startExpirySweeper() // a.Close stops it
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		a.Close(context.Background())
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if cerr := a.Close(shutdownCtx); err == nil {
		err = cerr
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped cleanly")
	return nil
}
