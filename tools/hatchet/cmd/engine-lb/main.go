// Command engine-lb stands in, on one machine, for what a Kubernetes
// Service (or any TCP load balancer) does in front of Hatchet engine
// replicas: it accepts the workers' and clients' gRPC connections on one
// address and passes each, byte for byte, to one of the engines, taking
// them in turn and skipping an engine that refuses the connection. When an
// engine dies, the connections it carried break; the SDK reconnects, and
// its new connections reach a live engine. scripts/stack.sh starts it for
// the scale-out deployment (PARLEY_HATCHET=cluster).
//
//	engine-lb -listen 127.0.0.1:7177 -backend 127.0.0.1:7178 -backend 127.0.0.1:7179
package main

import (
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type backends []string

func (b *backends) String() string     { return strings.Join(*b, ",") }
func (b *backends) Set(v string) error { *b = append(*b, v); return nil }

func main() {
	listen := flag.String("listen", "127.0.0.1:7077", "address to accept connections on")
	var to backends
	flag.Var(&to, "backend", "an engine's gRPC address (repeat for each replica)")
	flag.Parse()
	if len(to) == 0 {
		log.Fatal("engine-lb: at least one -backend is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("engine-lb: %v", err)
	}
	log.Printf("engine-lb: %s -> %s", *listen, to.String())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		ln.Close()
	}()
	var next atomic.Uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("engine-lb: accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go serve(c, to, int(next.Add(1)))
	}
}

// serve connects c to the first backend that accepts, starting at the
// start-th (round robin), and copies both ways until either side closes.
func serve(c net.Conn, to []string, start int) {
	defer c.Close()
	var b net.Conn
	for i := range to {
		addr := to[(start+i)%len(to)]
		var err error
		if b, err = net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			break
		}
		log.Printf("engine-lb: %s: %v", addr, err)
	}
	if b == nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done
	<-done
}
