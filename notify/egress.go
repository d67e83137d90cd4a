package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrEgressRefused is the error of a connection the egress policy
// refused. Messages built on it never say what the address is or what
// would have answered there.
var ErrEgressRefused = errors.New("refused by egress policy")

// EgressPolicy guards Parley's outbound requests to URLs that users
// configure (room webhooks, Zulip): they may not reach loopback, private,
// link-local, unique-local or other non-public addresses unless
// PARLEY_EGRESS_ALLOW lists them. The check is made on the address each
// connection is actually opened to (net.Dialer.Control), after DNS
// resolution, so a name that resolves to a public address when checked
// and to 127.0.0.1 when connecting (DNS rebinding) is refused too. A nil
// policy refuses every non-public address.
type EgressPolicy struct {
	prefixes []netip.Prefix
	addrs    map[netip.AddrPort]bool
	hosts    map[string]bool // lower-case names, and "name:port"
}

// ParseEgressAllow reads PARLEY_EGRESS_ALLOW: entries separated by commas
// or spaces, each a CIDR (10.0.0.0/8), an address (127.0.0.1), an address
// with a port (127.0.0.1:9999, [::1]:9999), a host name
// (zulip.internal), or a host name with a port (hooks.internal:8080). A
// listed name may reach whatever it resolves to; a listed address or
// range is allowed whatever name led there.
func ParseEgressAllow(s string) (*EgressPolicy, error) {
	p := &EgressPolicy{addrs: map[netip.AddrPort]bool{}, hosts: map[string]bool{}}
	for _, e := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if pr, err := netip.ParsePrefix(e); err == nil {
			p.prefixes = append(p.prefixes, pr.Masked())
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
			p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		if ap, err := netip.ParseAddrPort(e); err == nil {
			p.addrs[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
			continue
		}
		host, port, err := net.SplitHostPort(e)
		if err != nil {
			host, port = e, ""
		}
		if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
			return nil, fmt.Errorf("PARLEY_EGRESS_ALLOW: %q is not a host, address or CIDR", e)
		}
		if host == "" || strings.ContainsAny(host, "/[]@:") {
			return nil, fmt.Errorf("PARLEY_EGRESS_ALLOW: %q is not a host, address or CIDR", e)
		}
		name := strings.ToLower(strings.TrimSuffix(host, "."))
		if port != "" {
			name += ":" + port
		}
		p.hosts[name] = true
	}
	return p, nil
}

// String lists the policy's entries.
func (p *EgressPolicy) String() string {
	if p == nil {
		return "public addresses only"
	}
	var out []string
	for _, pr := range p.prefixes {
		out = append(out, pr.String())
	}
	for a := range p.addrs {
		out = append(out, a.String())
	}
	for h := range p.hosts {
		out = append(out, h)
	}
	return "public addresses and " + strings.Join(out, ",")
}

// Public reports whether ip is a public unicast address: not loopback,
// private (RFC 1918, CGNAT), link-local, unique-local, unspecified,
// multicast, broadcast, documentation or an IPv6 form embedding one of
// those (IPv4-mapped, NAT64).
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, pr := range nonPublic {
		if pr.Contains(ip) {
			return false
		}
	}
	return true
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: reaches IPv4 behind it
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),
}

// allowedAddr reports whether a connection to ap may be opened.
func (p *EgressPolicy) allowedAddr(ap netip.AddrPort) bool {
	ip := ap.Addr().Unmap()
	if Public(ip) {
		return true
	}
	if p == nil {
		return false
	}
	if p.addrs[netip.AddrPortFrom(ip, ap.Port())] {
		return true
	}
	for _, pr := range p.prefixes {
		if pr.Contains(ip) {
			return true
		}
	}
	return false
}

// allowedHost reports whether hostport ("name:port") is listed by name.
func (p *EgressPolicy) allowedHost(hostport string) bool {
	if p == nil {
		return false
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return p.hosts[host] || p.hosts[strings.ToLower(hostport)]
}

// CheckURL refuses a URL whose host is a literal non-public address or
// "localhost" that the policy does not allow: what can be told without
// resolving names (the dialer checks every connection anyway). Errors
// wrap ErrEgressRefused.
func (p *EgressPolicy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil // the caller's URL validation reports it
	}
	hostport := u.Host
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443"}[u.Scheme]
		if port == "" {
			port = "80"
		}
		hostport = net.JoinHostPort(u.Hostname(), port)
	}
	if p.allowedHost(hostport) {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return ErrEgressRefused
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ap, _ := netip.ParseAddrPort(net.JoinHostPort(ip.String(), port))
		if !p.allowedAddr(ap) {
			return ErrEgressRefused
		}
	}
	return nil
}

// DialContext opens a connection to addr ("host:port") unless the policy
// refuses the address it resolves to; the check runs on the very address
// being connected to.
func (p *EgressPolicy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !p.allowedHost(addr) {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !p.allowedAddr(ap) {
				return ErrEgressRefused
			}
			return nil
		}
	}
	return d.DialContext(ctx, network, addr)
}

// Transport is an HTTP transport whose every connection goes through the
// policy (and never through a proxy, which would connect for it).
func (p *EgressPolicy) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = p.DialContext
	return t
}

// Client is an HTTP client over Transport. Without followRedirects a 3xx
// answer is returned as it is.
func (p *EgressPolicy) Client(followRedirects bool) *http.Client {
	c := &http.Client{Transport: p.Transport()}
	if !followRedirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}
