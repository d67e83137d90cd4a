// Command hatchet-lite is Parley's build of Hatchet's single-process server
// for the local stack: engine, REST API, the dashboard's static files, and
// one HTTP port in front of the API and the files. It takes the same
// --config flag and LITE_* variables as the upstream cmd/hatchet-lite of the
// pinned Hatchet version and is built from the same packages. It differs in
// two ways:
//
//   - On SIGTERM or SIGINT it waits for the engine's own graceful shutdown
//     before it exits. Upstream hatchet-lite returns from main as soon as the
//     signal arrives, which ends the process while the engine is still
//     tearing down: the engine never deletes its scheduler, controller and
//     worker partitions, so after a restart the tenant stays assigned to the
//     dead process's scheduler partition until that partition's heartbeat is
//     a minute old, and every run waits in the queue for that minute.
//   - Engine and API share one server configuration (one set of database
//     pools) instead of building three.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	apiserver "github.com/hatchet-dev/hatchet/api/v1/server/run"
	"github.com/hatchet-dev/hatchet/cmd/hatchet-engine/engine"
	"github.com/hatchet-dev/hatchet/cmd/hatchet-staticfileserver/staticfileserver"
	"github.com/hatchet-dev/hatchet/pkg/cleanup"
	"github.com/hatchet-dev/hatchet/pkg/config/loader"
	"github.com/hatchet-dev/hatchet/pkg/config/server"
)

// Version is stamped at build time (-X main.Version=vX.Y.Z): the SDK treats
// an engine that reports an unknown version as a legacy one.
var Version = "v0.0.0-unstamped"

// shutdownLimit bounds the whole graceful shutdown; scripts/stack.sh waits
// a little longer than this before it kills the process.
const shutdownLimit = 25 * time.Second

func main() {
	configDir := flag.String("config", "", "the Hatchet config directory (server.yaml, keys)")
	printVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *printVersion {
		fmt.Println(Version)
		return
	}
	if err := run(*configDir); err != nil {
		log.Printf("hatchet-lite: %v", err)
		os.Exit(1)
	}
}

func run(configDir string) error {
	staticDir := os.Getenv("LITE_STATIC_ASSET_DIR")
	basePath := cmp.Or(os.Getenv("LITE_FRONTEND_BASE_PATH"), "/")
	frontendPort := os.Getenv("LITE_FRONTEND_PORT")
	runtimePort := cmp.Or(os.Getenv("LITE_RUNTIME_PORT"), "8082")
	bind := cmp.Or(os.Getenv("LITE_BIND_ADDRESS"), "127.0.0.1")
	if staticDir == "" || frontendPort == "" {
		return errors.New("LITE_STATIC_ASSET_DIR and LITE_FRONTEND_PORT are required")
	}
	if os.Getenv("SERVER_MSGQUEUE_KIND") == "" && os.Getenv("SERVER_MSGQUEUE_RABBITMQ_URL") == "" {
		os.Setenv("SERVER_MSGQUEUE_KIND", "postgres")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cf := loader.NewConfigLoader(configDir)
	configCleanup, sc, err := cf.CreateServerFromConfig(Version, func(f *server.ServerConfigFile) {
		f.SecurityCheck.Enabled = false
	})
	if err != nil {
		return fmt.Errorf("load server config: %w", err)
	}

	apiCleanup, err := apiserver.NewAPIServer(sc).Run()
	if err != nil {
		return fmt.Errorf("start API: %w", err)
	}

	files := &http.Server{
		Addr:              net.JoinHostPort(bind, frontendPort),
		Handler:           staticfileserver.NewStaticFileServer(staticDir, basePath),
		ReadHeaderTimeout: 5 * time.Second,
	}
	apiURL := &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", fmt.Sprint(sc.Runtime.Port))}
	filesURL := &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", frontendPort)}
	front := &http.Server{
		Addr:              net.JoinHostPort(bind, runtimePort),
		ReadHeaderTimeout: 5 * time.Second,
		Handler: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			if strings.HasPrefix(r.In.URL.Path, "/api") {
				r.SetURL(apiURL)
			} else {
				r.SetURL(filesURL)
			}
		}},
	}
	serveErr := make(chan error, 2)
	for _, s := range []*http.Server{files, front} {
		go func() {
			if err := s.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("serve %s: %w", s.Addr, err)
			}
		}()
	}

	// The engine runs until ctx ends, then tears itself down: that teardown
	// (partition hand-over included) is what upstream hatchet-lite skips.
	engineCtx, stopEngine := context.WithCancel(ctx)
	defer stopEngine()
	teardown := cleanup.New(sc.Logger)
	engineDone := make(chan error, 1)
	go func() {
		if err := engine.RunWithConfig(engineCtx, sc, &teardown); err != nil {
			engineDone <- fmt.Errorf("engine: %w", err)
			return
		}
		engineDone <- teardown.Run()
	}()

	var failure error
	select {
	case <-ctx.Done():
		log.Printf("hatchet-lite: shutting down gracefully (at most %s)", shutdownLimit)
	case failure = <-serveErr:
		stopEngine()
	case failure = <-engineDone:
		// the engine failed to start or stopped on its own
	}
	stopEngine()

	deadline := time.After(shutdownLimit)
	if failure == nil {
		select {
		case err := <-engineDone:
			if err != nil {
				failure = err
			}
		case <-deadline:
			failure = fmt.Errorf("engine shutdown did not finish within %s", shutdownLimit)
		}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range []*http.Server{front, files} {
		_ = s.Shutdown(shutCtx)
	}
	errs := []error{failure, apiCleanup(), configCleanup(), sc.Disconnect()}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Printf("hatchet-lite: stopped")
	return nil
}
