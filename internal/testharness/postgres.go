package testharness

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-eth/vigil/internal/netport"
)

// EnvPostgresURL names a PostgreSQL server to use instead of starting one; the
// harness creates a fresh database on it per test.
const EnvPostgresURL = "VIGIL_TEST_POSTGRES_URL"

// envRequireIntegration makes a missing server binary fail tests instead of
// skipping them.
const envRequireIntegration = "VIGIL_REQUIRE_INTEGRATION"

// pgCluster is the one cluster a test binary starts.
type pgCluster struct {
	dir string
	// port is reserved for the life of the cluster (see internal/netport).
	ports   *netport.Reservation
	bin     string
	port    int
	asUser  string
	baseURL string
	err     error
	skip    string
}

var (
	pgOnce    sync.Once
	pgShared  *pgCluster
	pgCounter atomic.Int64
)

// Postgres returns the URL of a new, empty database on a PostgreSQL server
// that lives until StopPostgres. The first call starts a private cluster on a
// reserved loopback port (or uses VIGIL_TEST_POSTGRES_URL). Without PostgreSQL
// binaries the test is skipped, or failed when VIGIL_REQUIRE_INTEGRATION=1.
func Postgres(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() { pgShared = startPostgres() })
	c := pgShared
	if c.skip != "" {
		if os.Getenv(envRequireIntegration) == "1" {
			t.Fatalf("PostgreSQL integration test cannot run: %s", c.skip)
		}
		t.Skipf("SKIPPING PostgreSQL integration test: %s (install it with `apt-get install postgresql`)", c.skip)
	}
	if c.err != nil {
		t.Fatalf("start PostgreSQL: %v", c.err)
	}
	name := fmt.Sprintf("vigil_test_%d_%d", os.Getpid(), pgCounter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.baseURL)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	u, _ := url.Parse(c.baseURL)
	u.Path = "/" + name
	return u.String()
}

// StopPostgres stops the cluster Postgres started, if any, and deletes its
// files. Call it from TestMain after m.Run.
func StopPostgres() {
	c := pgShared
	if c == nil || c.dir == "" {
		return
	}
	cmd := c.command(filepath.Join(c.bin, "pg_ctl"), "stop", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w")
	_ = cmd.Run()
	_ = os.RemoveAll(c.dir)
	c.dir = ""
	c.ports.Release()
}

func findPostgresBin() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return ""
	}
	// Highest version: sort by the numeric directory name.
	best, bestV := "", -1
	for _, m := range matches {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m))))
		if v > bestV {
			best, bestV = filepath.Dir(m), v
		}
	}
	return best
}

func (c *pgCluster) command(name string, args ...string) *exec.Cmd {
	if c.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", c.asUser, "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func startPostgres() *pgCluster {
	if u := os.Getenv(EnvPostgresURL); u != "" {
		return &pgCluster{baseURL: u}
	}
	c := &pgCluster{bin: findPostgresBin()}
	if c.bin == "" {
		c.skip = "PostgreSQL server binaries (initdb, pg_ctl) not found in PATH or /usr/lib/postgresql/*/bin"
		return c
	}
	dir, err := os.MkdirTemp("", "vigil-pg-")
	if err != nil {
		c.err = err
		return c
	}
	c.dir = dir
	// initdb refuses to run as root; run the server as the postgres user in a
	// directory it owns.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			c.err = fmt.Errorf("running as root needs the postgres user (created by the Debian package): %w", err)
			return c
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			c.err = err
			return c
		}
		c.asUser = "postgres"
	}
	data := filepath.Join(dir, "data")
	if out, err := c.command(filepath.Join(c.bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		c.err = fmt.Errorf("initdb: %v: %s", err, out)
		return c
	}
	if c.ports, err = netport.Reserve(1); err != nil {
		c.err = err
		return c
	}
	c.port = c.ports.Ports()[0]
	opts := strings.Join([]string{
		"-c listen_addresses=127.0.0.1", "-p " + strconv.Itoa(c.port), "-k " + dir,
		"-c max_connections=200", "-c shared_buffers=128MB",
	}, " ")
	out, err := c.command(filepath.Join(c.bin, "pg_ctl"), "start", "-D", data, "-w", "-t", "60",
		"-l", filepath.Join(dir, "server.log"), "-o", opts).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		c.err = fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
		return c
	}
	c.baseURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	return c
}
