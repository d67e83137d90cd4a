package notify_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/notify"
)

func TestEgressPublic(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1": false, "127.3.2.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "172.31.255.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd12:3456::1": false,
		"0.0.0.0": false, "::": false, "100.64.0.1": false, "224.0.0.1": false, "255.255.255.255": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "64:ff9b::a9fe:a9fe": false,
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700::1111": true, "172.32.0.1": true, "::ffff:8.8.8.8": true,
	} {
		require.Equal(t, want, notify.Public(netip.MustParseAddr(addr)), addr)
	}
}

func TestEgressAllowParsing(t *testing.T) {
	t.Parallel()
	p, err := notify.ParseEgressAllow("10.0.0.0/8, 127.0.0.1:9999 [::1]:8080,zulip.internal,hooks.internal:8443, 192.168.1.5")
	require.NoError(t, err)
	for raw, refused := range map[string]bool{
		"http://10.2.3.4/hook":              false,
		"http://127.0.0.1:9999/hook":        false,
		"http://127.0.0.1:9998/hook":        true,
		"http://[::1]:8080/x":               false,
		"http://[::1]:8081/x":               true,
		"https://zulip.internal/api":        false,
		"https://hooks.internal:8443/x":     false,
		"http://192.168.1.5/x":              false,
		"http://192.168.1.6/x":              true,
		"http://localhost:9999/x":           true,
		"http://169.254.169.254/latest":     true,
		"http://[::ffff:169.254.169.254]/x": true,
		"https://hooks.example.com/x":       false, // a name: checked when connecting
	} {
		err := p.CheckURL(raw)
		if refused {
			require.ErrorIs(t, err, notify.ErrEgressRefused, raw)
		} else {
			require.NoError(t, err, raw)
		}
	}
	_, err = notify.ParseEgressAllow("http://x/")
	require.Error(t, err)
	var none *notify.EgressPolicy
	require.ErrorIs(t, none.CheckURL("http://127.0.0.1/"), notify.ErrEgressRefused)
}

// TestEgressGuardsTheConnection: the check runs on the address each
// connection is opened to, after resolution, so a name that resolves to
// loopback (as a rebinding name does when it is used) is refused, no
// request reaches the listener, and the error says nothing of what is
// there.
func TestEgressGuardsTheConnection(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	ctx := context.Background()
	deny, err := notify.ParseEgressAllow("")
	require.NoError(t, err)
	for _, target := range []string{srv.URL + "/hook", "http://localhost:" + port + "/hook"} {
		sender := &notify.WebhookSender{HTTPClient: deny.Client(false), Timeout: 5 * time.Second}
		status, err := sender.Send(ctx, target, "", notify.EventCompleted, []byte(`{}`), 0)
		require.Zero(t, status)
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "permanent: %v", err)
		msg := parley.ErrorMessage(err)
		require.Contains(t, msg, "refused by egress policy")
		require.NotContains(t, msg, "403")
		require.NotContains(t, strings.ToLower(msg), "connection refused")

		z := notify.NewZulip(notify.ZulipConfig{Realm: strings.TrimSuffix(target, "/hook"), BotEmail: "b", APIKey: "k",
			HTTPClient: deny.Client(true)})
		_, err = z.Post(ctx, "s", "t", "c")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "%v", err)
		require.Contains(t, parley.ErrorMessage(err), "refused by egress policy")
	}
	require.Zero(t, hits.Load(), "nothing reached the listener")

	allow, err := notify.ParseEgressAllow(srv.Listener.Addr().String())
	require.NoError(t, err)
	status, err := (&notify.WebhookSender{HTTPClient: allow.Client(false)}).Send(ctx, srv.URL+"/hook", "", notify.EventCompleted, []byte(`{}`), 0)
	require.Equal(t, 403, status, "an allowed address is reached: %v", err)
	require.Equal(t, int64(1), hits.Load())
}
