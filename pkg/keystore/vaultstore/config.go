package vaultstore

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/vault/api"
)

// Defaults for the optional Config fields.
const (
	DefaultMount        = "secret"
	DefaultPrefix       = "vigil/keys"
	DefaultAppRoleMount = "approle"
	DefaultParallelism  = 16
)

// Vault's own environment variables, read by Config.ApplyEnv.
const (
	EnvAddr       = "VAULT_ADDR"
	EnvToken      = "VAULT_TOKEN"
	EnvNamespace  = "VAULT_NAMESPACE"
	EnvCACert     = "VAULT_CACERT"
	EnvClientCert = "VAULT_CLIENT_CERT"
	EnvClientKey  = "VAULT_CLIENT_KEY"
)

// ApplyEnv fills the fields left empty from Vault's environment variables,
// read through getenv. VAULT_TOKEN is taken only when no credential is
// configured at all, so that a token left in an operator's shell cannot
// silently win over the AppRole or token file the configuration names.
func (c *Config) ApplyEnv(getenv func(string) string) {
	for _, f := range []struct {
		field *string
		env   string
	}{{&c.Address, EnvAddr}, {&c.Namespace, EnvNamespace}, {&c.CAFile, EnvCACert}, {&c.ClientCert, EnvClientCert}, {&c.ClientKey, EnvClientKey}} {
		if *f.field == "" {
			*f.field = getenv(f.env)
		}
	}
	if c.Token == "" && c.TokenFile == "" && c.AppRoleRoleID == "" && c.AppRoleSecretIDFile == "" {
		c.Token = getenv(EnvToken)
	}
}

// requestTimeout bounds one HTTP exchange with Vault; the caller's context can
// end it sooner.
const requestTimeout = 30 * time.Second

// Config says where the keys live and how to authenticate. Exactly one of
// Token, TokenFile and AppRoleRoleID must be set.
type Config struct {
	// Address is Vault's URL, e.g. https://vault.example:8200. A plain
	// http:// address must name a loopback host (a Vault Agent or a dev
	// server on this machine) unless AllowInsecureHTTP is set.
	Address string
	// AllowInsecureHTTP accepts a plain http:// Address whose host is not
	// loopback, sending the token and every secret key unencrypted; for labs.
	AllowInsecureHTTP bool
	// Mount is the KV version 2 secrets engine's path (default "secret").
	Mount string
	// Prefix is the path inside the mount under which every key is a secret
	// named by its public key (default "vigil/keys").
	Prefix string
	// Namespace is the Vault Enterprise namespace, empty for none.
	Namespace string

	// Token is a Vault token value.
	Token string
	// TokenFile holds a token (mode 0600); it is read again when Vault rejects
	// the token in use, so a Vault Agent sink can rotate it.
	TokenFile string
	// AppRoleRoleID and AppRoleSecretIDFile log in with AppRole; the secret ID
	// file (mode 0600) is read at every login.
	AppRoleRoleID       string
	AppRoleSecretIDFile string
	// AppRoleMount is the AppRole auth method's path (default "approle").
	AppRoleMount string

	// CAFile is a PEM bundle that verifies Vault's TLS certificate, instead of
	// the system roots.
	CAFile string
	// ClientCert and ClientKey are a PEM certificate and key for TLS client
	// authentication; both or neither.
	ClientCert string
	ClientKey  string

	// Parallelism is how many requests Load and List keep in flight
	// (default 16).
	Parallelism int
}

// Option configures a Store beyond its Config.
type Option func(*options)

type options struct {
	log           *slog.Logger
	clock         Clock
	maxRetries    int
	strictListing bool
}

// WithLogger sets the logger for token renewal and re-login events.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithClock replaces the wall clock that token expiry is measured with.
func WithClock(c Clock) Option {
	return func(o *options) { o.clock = c }
}

// WithStrictListing makes Pubkeys and List fail with an error matching
// keystore.ErrNoListing, instead of returning no keys, when Vault answers the
// LIST of the prefix with 404: KV v2 gives that answer for an empty prefix
// and equally for one a lagging performance standby, another namespace or a
// moved engine cannot see, so a caller holding keys must not read it as "all
// keys were removed".
func WithStrictListing() Option {
	return func(o *options) { o.strictListing = true }
}

// WithMaxRetries sets how often a request that failed with a network error or
// HTTP 5xx is retried (default 2, as Vault's own client does).
func WithMaxRetries(n int) Option {
	return func(o *options) { o.maxRetries = n }
}

// Clock is the time source the store measures token lifetimes and retry
// delays with.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// authMode is how the store obtains its token.
type authMode int

const (
	authToken authMode = iota
	authTokenFile
	authAppRole
)

// withDefaults fills optional fields and checks the mandatory ones.
func (c Config) withDefaults() (Config, authMode, error) {
	if c.Address == "" {
		return c, 0, newError(ErrConfig, nil, "no Vault address: set --vault-address or VAULT_ADDR")
	}
	if _, err := checkAddress(c.Address, c.AllowInsecureHTTP); err != nil {
		return c, 0, err
	}
	if c.Mount == "" {
		c.Mount = DefaultMount
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.AppRoleMount == "" {
		c.AppRoleMount = DefaultAppRoleMount
	}
	if c.Parallelism <= 0 {
		c.Parallelism = DefaultParallelism
	}
	c.Mount = strings.Trim(c.Mount, "/")
	c.Prefix = strings.Trim(c.Prefix, "/")
	c.AppRoleMount = strings.Trim(c.AppRoleMount, "/")
	if c.Mount == "" || c.Prefix == "" {
		return c, 0, newError(ErrConfig, nil, "Vault mount and prefix must not be only slashes")
	}

	var modes []string
	mode := authToken
	if c.Token != "" {
		modes = append(modes, "a token (VAULT_TOKEN)")
	}
	if c.TokenFile != "" {
		modes = append(modes, "a token file")
		mode = authTokenFile
	}
	if c.AppRoleRoleID != "" || c.AppRoleSecretIDFile != "" {
		modes = append(modes, "AppRole")
		mode = authAppRole
		if c.AppRoleRoleID == "" || c.AppRoleSecretIDFile == "" {
			return c, 0, newError(ErrConfig, nil, "AppRole needs both a role ID and a secret ID file")
		}
	}
	switch len(modes) {
	case 0:
		return c, 0, newError(ErrConfig, nil,
			"no Vault credentials: set VAULT_TOKEN, a token file, or an AppRole role ID and secret ID file")
	case 1:
	default:
		return c, 0, newError(ErrConfig, nil, "Vault credentials given more than once (%s): use exactly one",
			strings.Join(modes, ", "))
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		return c, 0, newError(ErrConfig, nil, "TLS client authentication needs both a client certificate and a client key")
	}
	return c, mode, nil
}

// checkAddress refuses a Vault address that would carry the token and the
// keys in clear: plain http:// to a host that is not loopback, unless
// allowInsecure. insecure reports such an address that was allowed, so that
// New can warn. A unix:// socket is local and accepted. The errors never echo
// the address's password, should it hold one.
func checkAddress(address string, allowInsecure bool) (insecure bool, err error) {
	u, err := url.Parse(address)
	if err != nil {
		// url.Error quotes the whole address; name only what is wrong.
		return false, newError(ErrConfig, nil, "Vault address is not a URL: want https://HOST:PORT, e.g. https://vault.internal:8200")
	}
	if u.User != nil {
		return false, newError(ErrConfig, nil,
			"Vault address %s carries user credentials, which would show in every log line and error: remove them; "+
				"vigil authenticates with a token file, $VIGIL_VAULT_TOKEN or AppRole", u.Redacted())
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "unix":
		return false, nil // a socket on this host: nothing crosses the network
	case "http":
		if u.Hostname() == "" {
			return false, newError(ErrConfig, nil, "Vault address %s names no host: want https://HOST:PORT", address)
		}
		if isLoopback(u.Hostname()) {
			return false, nil
		}
		if !allowInsecure {
			return false, newError(ErrConfig, nil,
				"Vault address %s uses plain http:// to a host that is not loopback: the Vault token and every secret "+
					"key read would cross the network unencrypted. Use https:// (with --vault-ca-file for a private CA), "+
					"or run a Vault Agent on this host and point --vault-address at its loopback listener "+
					"(e.g. http://127.0.0.1:8100); only in a lab, accept the risk with --vault-allow-insecure-http",
				address)
		}
		return true, nil
	default:
		return false, newError(ErrConfig, nil, "Vault address %s has scheme %q: want https://HOST:PORT "+
			"(http:// only to a loopback host, or unix:// for a local socket)", u.Redacted(), u.Scheme)
	}
	if u.Hostname() == "" {
		return false, newError(ErrConfig, nil, "Vault address %s names no host: want https://HOST:PORT", address)
	}
	return false, nil
}

// isLoopback reports whether host is "localhost" or a loopback IP address
// (127.0.0.0/8, ::1, also IPv4-mapped); names that merely resolve to
// loopback today are not trusted to keep doing so.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// newClient builds a Vault client from c alone. It does not read VAULT_*
// variables the way api.DefaultConfig does (VAULT_SKIP_VERIFY could silently
// turn certificate checks off); the CLI maps the standard ones explicitly.
func newClient(c Config, maxRetries int) (*api.Client, error) {
	transport := cleanhttp.DefaultPooledTransport()
	// Load keeps Parallelism requests in flight; with Go's default of two idle
	// connections per host the rest would be torn down and redialled on every
	// request.
	transport.MaxIdleConnsPerHost = 2 * c.Parallelism
	transport.MaxIdleConns = 2 * c.Parallelism
	transport.TLSHandshakeTimeout = 10 * time.Second
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	httpClient := &http.Client{
		Transport: transport,
		// Vault's client handles redirects itself (as api.DefaultConfig sets up).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cfg := &api.Config{
		Address:    c.Address,
		HttpClient: httpClient,
		Timeout:    requestTimeout,
		MaxRetries: maxRetries,
	}
	for _, f := range []struct{ flag, path string }{
		{"CA file", c.CAFile}, {"client certificate", c.ClientCert}, {"client key", c.ClientKey},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, newError(ErrConfig, err, "Vault TLS %s", f.flag)
		}
	}
	if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: c.CAFile, ClientCert: c.ClientCert, ClientKey: c.ClientKey}); err != nil {
		return nil, newError(ErrConfig, err, "Vault TLS configuration (CA file %q, client certificate %q)", c.CAFile, c.ClientCert)
	}
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, newError(ErrConfig, err, "Vault client for %s", c.Address)
	}
	// api.NewClient picks up VAULT_TOKEN and VAULT_NAMESPACE by itself; vigil
	// sets both explicitly.
	client.ClearToken()
	client.ClearNamespace()
	if c.Namespace != "" {
		client.SetNamespace(c.Namespace)
	}
	return client, nil
}

// checkPrivateFile refuses a credentials file that group or others can read:
// the token or secret ID in it is as good as the keys.
func checkPrivateFile(what, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return newError(ErrConfig, err, "%s", what)
	}
	if fi.IsDir() {
		return newError(ErrConfig, nil, "%s %s is a directory", what, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return newError(ErrConfig, nil, "%s %s has mode %04o; it holds a Vault credential, so run `chmod 600 %s`",
			what, path, perm, path)
	}
	return nil
}

// readSecretFile reads a credential file after checking its mode, trimming
// surrounding white space. The error never contains the contents.
func readSecretFile(what, path string) (string, error) {
	if err := checkPrivateFile(what, path); err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", newError(ErrConfig, err, "%s", what)
	}
	defer clear(b)
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", newError(ErrConfig, nil, "%s %s is empty", what, path)
	}
	return v, nil
}

func fmtDuration(d time.Duration) string {
	return fmt.Sprint(d.Round(time.Second))
}
