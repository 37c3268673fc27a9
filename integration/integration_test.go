// Package integration starts real PostgreSQL 15 and Redis 7 servers from
// what tlsgen renders (the built ConfigMap, Secrets and Deployments) and
// proves the TLS with real clients (pgx, go-redis, redis-cli) and with
// tlsgen verify. The servers come from .ci/run; a missing one fails.
package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/internal/servers"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/verify"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
)

// pgConnect connects pgx to host as a client in the cluster would, with
// the port of a test server: pgx has no hostaddr, so host stays the name
// the certificate is checked against and the lookup sends it to 127.0.0.1.
func pgConnect(ctx context.Context, host string, port int, sslmode, rootCert string) (*pgx.Conn, error) {
	dsn := fmt.Sprintf("host=%s port=%d user=postgres password=%s dbname=postgres sslmode=%s connect_timeout=5", host, port, password, sslmode)
	if rootCert != "" {
		dsn += " sslrootcert=" + rootCert
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.LookupFunc = func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }
	return pgx.ConnectConfig(ctx, cfg)
}

// tlsVersions orders PostgreSQL's names for TLS versions.
var tlsVersions = map[string]int{"TLSv1": 10, "TLSv1.1": 11, "TLSv1.2": 12, "TLSv1.3": 13}

func TestRenderedTLSAgainstRealServers(t *testing.T) {
	t.Parallel()
	acct := servers.PostgresAccount(t)
	cases := []struct {
		name string
		make func(t *testing.T) *stack
		// databases get a server each, from their own Secret.
		databases []string
	}{
		{
			name: "the example: one shared RSA certificate, the intermediate profile",
			make: func(t *testing.T) *stack {
				inv, data := exampleInventory(t, acct)
				return renderStack(t, inv, data, exampleCA(t), time.Now())
			},
			databases: []string{"auth-db"},
		},
		{
			name: "a certificate per database, ECDSA keys, the modern profile",
			make: func(t *testing.T) *stack {
				inv, data := genInventory(gen.PerDatabase(), gen.Keys(model.ECDSAP256), gen.Profile(model.Modern), gen.UID(int64(acct.UID)))
				return renderStack(t, inv, data, nil, time.Now())
			},
			databases: []string{"auth-db", "tenant-db"},
		},
		{
			name: "encrypted with age: the servers start from the Secrets Flux decrypts",
			make: func(t *testing.T) *stack {
				recipient := testIdentity().Recipient().String()
				inv, data := genInventory(gen.PerDatabase(), gen.UID(int64(acct.UID)),
					gen.With(func(inv *model.Inventory) { inv.Encryption = &model.Encryption{Age: []string{recipient}} }))
				return renderStack(t, inv, data, nil, time.Now())
			},
			databases: []string{"tenant-db"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.make(t)
			other := otherCA(t)
			for _, db := range tc.databases {
				t.Run(db, func(t *testing.T) { checkPostgres(t, s, acct, db, other) })
			}
			t.Run("redis", func(t *testing.T) { checkRedis(t, s, other) })
		})
	}
}

// checkPostgres starts db's server from the rendered files and holds it to
// what the inventory promises.
func checkPostgres(t *testing.T, s *stack, acct servers.Account, name, otherCA string) {
	files := s.layoutPostgres(t, acct, name)
	t.Run("the init script leaves the key 0600 and the certificates 0644, owned by the server's user", func(t *testing.T) {
		checkModes(t, files.TLSDir, files.uid, map[string]fs.FileMode{"server-key.pem": 0o600, "server-cert.pem": 0o644, "ca-cert.pem": 0o644})
	})
	pg := startPostgres(t, acct, files)
	db := s.database(t, name)
	min := s.inv.TLS.Profile.Minimum()

	// Every name a client may use for this database; a shared certificate
	// must also cover every other database's names.
	names := s.inv.ServiceNames(db.Service)
	if s.inv.Postgres.Certificates == model.Shared {
		for _, other := range s.inv.Postgres.Databases {
			for _, n := range s.inv.ServiceNames(other.Service) {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
	}
	t.Run("pgx connects with verify-full under every name a client may use, at or above the minimum TLS version", func(t *testing.T) {
		for _, host := range names {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			conn, err := pgConnect(ctx, host, pg.Port, "verify-full", s.caBundle)
			if err != nil {
				t.Errorf("%s: %v", host, err)
				cancel()
				continue
			}
			var ssl bool
			var version string
			err = conn.QueryRow(ctx, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version)
			conn.Close(ctx)
			cancel()
			if err != nil {
				t.Errorf("%s: pg_stat_ssl: %v", host, err)
				continue
			}
			if !ssl || tlsVersions[version] < tlsVersions[min] {
				t.Errorf("%s: pg_stat_ssl says ssl=%v version %q, want TLS at or above %s", host, ssl, version, min)
			}
		}
	})

	badNames := []struct{ name, host string }{{"a name outside the namespace", "db.example.com"}}
	if s.inv.Postgres.Certificates == model.PerDatabase {
		for _, other := range s.inv.Postgres.Databases {
			if other.Name != name {
				badNames = append(badNames, struct{ name, host string }{"the name of another database, " + other.Name, s.inv.ServiceFQDN(other.Service)})
				break
			}
		}
	}
	fqdn := s.inv.ServiceFQDN(db.Service)
	refusals := []struct {
		name                    string
		host, sslmode, rootCert string
		want                    func(error) bool
		wantText                string
	}{
		{"a plaintext connection is rejected by pg_hba", fqdn, "disable", "", isPgHBARejection, "SQLSTATE 28000, no encryption"},
		{"a client that trusts another CA fails", fqdn, "verify-full", otherCA, contains("unknown authority"), "unknown authority"},
	}
	for _, b := range badNames {
		refusals = append(refusals, struct {
			name                    string
			host, sslmode, rootCert string
			want                    func(error) bool
			wantText                string
		}{"a hostname not in the certificate fails: " + b.name, b.host, "verify-full", s.caBundle, contains("certificate is valid for"), "certificate is valid for"})
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := pgConnect(ctx, r.host, pg.Port, r.sslmode, r.rootCert)
			if err == nil {
				conn.Close(ctx)
				t.Fatalf("connected to %s with sslmode=%s; want it refused", r.host, r.sslmode)
			}
			if !r.want(err) {
				t.Fatalf("refused with %v; want %s", err, r.wantText)
			}
		})
	}

	t.Run("tlsgen verify passes every check", func(t *testing.T) {
		v := runVerify(t, s, "--target", name+"="+pg.Addr())
		v.wantExit(t, 0)
		v.wantAll(t, name, verify.OK, 8)
	})
}

func isPgHBARejection(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "28000" && strings.Contains(pe.Message, "no encryption")
}

func contains(s string) func(error) bool {
	return func(err error) bool { return strings.Contains(err.Error(), s) }
}

// checkModes compares the files' permissions and owner with want.
func checkModes(t *testing.T, dir string, uid int, want map[string]fs.FileMode) {
	t.Helper()
	for name, mode := range want {
		st, err := os.Stat(dir + "/" + name)
		if err != nil {
			t.Error(err)
			continue
		}
		if got := st.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %v, want %v", name, got, mode)
		}
		if owner := int(st.Sys().(*syscall.Stat_t).Uid); owner != uid {
			t.Errorf("%s: owned by uid %d, want %d", name, owner, uid)
		}
	}
}

// checkRedis starts Redis from the built Deployment and holds it to the
// inventory: TLS with the password, no plaintext, probes that work.
func checkRedis(t *testing.T, s *stack, otherCA string) {
	r := s.startRedis(t, nil)
	fqdn := s.inv.ServiceFQDN(s.inv.Redis.Service)
	pool := func(file string) *x509.CertPool {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(data) {
			t.Fatalf("%s: no certificate", file)
		}
		return p
	}
	ping := func(tlsConfig *tls.Config) (string, error) {
		c := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: password, TLSConfig: tlsConfig, MaxRetries: -1, DialTimeout: 5 * time.Second, DisableIdentity: true})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c.Ping(ctx).Result()
	}
	t.Run("go-redis gets PONG with the CA, the service name and the password", func(t *testing.T) {
		got, err := ping(&tls.Config{RootCAs: pool(s.caBundle), ServerName: fqdn, MinVersion: verify.MinVersion(s.inv.TLS.Profile)})
		if err != nil || got != "PONG" {
			t.Fatalf("PING = %q, %v; want PONG", got, err)
		}
	})
	t.Run("a plaintext connection is refused", func(t *testing.T) {
		got, err := ping(nil)
		if err == nil || strings.Contains(err.Error(), "NOAUTH") {
			t.Fatalf("plaintext PING = %q, %v; want the connection refused before any Redis reply", got, err)
		}
	})
	t.Run("a client that trusts another CA fails", func(t *testing.T) {
		got, err := ping(&tls.Config{RootCAs: pool(otherCA), ServerName: fqdn})
		if err == nil || !strings.Contains(err.Error(), "unknown authority") {
			t.Fatalf("PING = %q, %v; want an unknown authority", got, err)
		}
	})
	t.Run("tlsgen verify passes every check", func(t *testing.T) {
		v := runVerify(t, s, "--target", s.inv.Redis.Name+"="+r.Addr())
		v.wantExit(t, 0)
		v.wantAll(t, s.inv.Redis.Name, verify.OK, 7)
	})
	probes := []struct {
		name  string
		probe func() error
	}{
		{"livenessProbe", func() error { return r.probe(t, r.container.LivenessProbe) }},
		{"readinessProbe", func() error { return r.probe(t, r.container.ReadinessProbe) }},
	}
	t.Run("the rendered probes succeed against the running server", func(t *testing.T) {
		for _, p := range probes {
			if err := p.probe(); err != nil {
				t.Errorf("%s: %v", p.name, err)
			}
		}
	})
	t.Run("the rendered probes fail against a stopped server", func(t *testing.T) {
		r.Stop(t)
		for _, p := range probes {
			if err := p.probe(); err == nil {
				t.Errorf("%s succeeded against a stopped server", p.name)
			}
		}
	})
}

func TestPostgresRefusesAKeyOthersCanRead(t *testing.T) {
	t.Parallel()
	acct := servers.PostgresAccount(t)
	inv, data := genInventory(gen.UID(int64(acct.UID)))
	s := renderStack(t, inv, data, nil, time.Now())
	cases := []struct {
		name    string
		keyMode fs.FileMode // 0: as the init script leaves it
		wantLog string      // "" when the server must start
	}{
		{"a group-readable key (0640) stops the server", 0o640, "has group or world access"},
		{"a world-readable key (0644), as a Secret volume mounts it, stops the server", 0o644, "has group or world access"},
		{"the modes the init script sets let it start", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := s.layoutPostgres(t, acct, "auth-db")
			if tc.keyMode != 0 {
				if err := os.Chmod(files.TLSDir+"/server-key.pem", tc.keyMode); err != nil {
					t.Fatal(err)
				}
			}
			pg, err := servers.StartPostgres(t, acct, files.PostgresConfig)
			if tc.wantLog == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("postgres started (pid %d) with a %v key; want it refused", pg.PID(), tc.keyMode)
			}
			var se *servers.StartError
			if !errors.As(err, &se) || !strings.Contains(se.Log, tc.wantLog) {
				t.Fatalf("postgres did not start, but not for the key's mode: %v; want its log to say %q", err, tc.wantLog)
			}
		})
	}
}

func TestVerifyFindsWhatIsWrong(t *testing.T) {
	t.Parallel()
	acct := servers.PostgresAccount(t)
	now := time.Now()
	inv, data := genInventory(gen.UID(int64(acct.UID)))
	good := renderStack(t, inv, data, nil, now)

	// The same inventory rendered with another CA.
	otherInv, otherData := genInventory(gen.UID(int64(acct.UID)), gen.With(func(inv *model.Inventory) { inv.PKI.CA.CommonName = "Other CA" }))
	other := renderStack(t, otherInv, otherData, nil, now)
	otherCAServer := startPostgres(t, acct, other.layoutPostgres(t, acct, "auth-db"))

	// pg_hba.conf as the guide leaves it (W1): host lines match plaintext.
	files := good.layoutPostgres(t, acct, "auth-db")
	files.HBA = regexp.MustCompile(`(?m)^hostnossl.*$`).ReplaceAllString(files.HBA, "")
	files.HBA = regexp.MustCompile(`(?m)^hostssl`).ReplaceAllString(files.HBA, "host   ")
	plaintextHBA := startPostgres(t, acct, files)

	// Redis with its plaintext port open beside the TLS one.
	plainPort := servers.FreePort(t)
	plainRedis := good.startRedis(t, func(args []string) []string {
		i := slices.Index(args, "--port")
		if i < 0 || args[i+1] != "0" {
			t.Fatalf("rendered Redis arguments have no --port 0: %q", args)
		}
		args = slices.Clone(args)
		args[i+1] = strconv.Itoa(plainPort)
		return args
	})

	// Certificates rendered 30 days before they expire: inside renewBefore 90d.
	renderedAt := now.Add(-3*model.Year + 30*model.Day)
	old := renderStack(t, inv, data, nil, renderedAt)
	oldRedis := old.startRedis(t, nil)

	// A port that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	closedPort := servers.FreePort(t)

	type want struct {
		target, check string
		status        verify.Status
		detail        string // a regexp
	}
	cases := []struct {
		name     string
		stack    *stack
		args     []string
		exit     int
		want     []want
		wantErr  string // on stderr
		allOKFor string // every check of this target passes
	}{
		{
			name: "a server with a certificate from another CA fails the chain",
			args: []string{"--target", "auth-db=" + otherCAServer.Addr()}, exit: 1,
			want: []want{
				{"auth-db", "chain", verify.Fail, `^certificate signed by an unknown authority "Other CA" \(expected "Test CA"\)$`},
				{"auth-db", "hostname", verify.OK, ""},
				{"auth-db", "plaintext", verify.OK, "no encryption"},
			},
			wantErr: `tlsgen: error: auth-db: certificate signed by an unknown authority "Other CA" (expected "Test CA")`,
		},
		{
			name: "a server whose pg_hba accepts plaintext fails the plaintext check",
			args: []string{"--target", "auth-db=" + plaintextHBA.Addr()}, exit: 1,
			want: []want{
				{"auth-db", "chain", verify.OK, ""},
				{"auth-db", "plaintext", verify.Fail, `^plaintext connection accepted: the server asked for SASL \(scram-sha-256\)`},
			},
			wantErr: "tlsgen: error: auth-db: plaintext connection accepted",
		},
		{
			name: "a Redis with its plaintext port open fails the handshake and the plaintext check there",
			// The plaintext port reads a ClientHello as an unfinished inline
			// command and waits: a short timeout ends the handshake.
			args: []string{"--target", "redis=127.0.0.1:" + strconv.Itoa(plainPort), "--timeout", "1s"}, exit: 1,
			want: []want{
				{"redis", "tls-handshake", verify.Fail, `expected a TLS server for redis-service\.bakery-ia\.svc\.cluster\.local`},
				{"redis", "plaintext", verify.Fail, `^plaintext PING got "-NOAUTH`},
			},
		},
		{
			name: "the same Redis passes on its TLS port",
			args: []string{"--target", "redis=" + plainRedis.Addr()}, exit: 0, allOKFor: "redis",
		},
		{
			name:  "a certificate inside the renewal window fails the expiry check",
			stack: old,
			args:  []string{"--target", "redis=" + oldRedis.Addr()}, exit: 1,
			want: []want{
				{"redis", "chain", verify.OK, ""},
				{"redis", "expiry", verify.Fail, `^expires in (29|30)d \(\d{4}-\d\d-\d\d\), inside renewBefore 90d`},
			},
		},
		{
			name:  "the same certificate judged --at the time it was rendered passes",
			stack: old,
			args:  []string{"--target", "redis=" + oldRedis.Addr(), "--at", renderedAt.Add(time.Hour).UTC().Format(time.RFC3339)}, exit: 0, allOKFor: "redis",
		},
		{
			name: "a target that refuses connections fails to connect",
			args: []string{"--target", "auth-db=127.0.0.1:" + strconv.Itoa(closedPort)}, exit: 1,
			want: []want{
				{"auth-db", "connect", verify.Fail, `connection refused \(expected a PostgreSQL server at 127\.0\.0\.1:\d+\)`},
				{"auth-db", "chain", verify.Skip, "not connected"},
			},
		},
		{
			name: "a target that never answers times out",
			args: []string{"--target", "auth-db=" + silent.Addr().String(), "--timeout", "300ms"}, exit: 1,
			want: []want{
				{"auth-db", "ssl-request", verify.Fail, `i/o timeout`},
				{"auth-db", "plaintext", verify.Fail, `^no answer to a plaintext startup message`},
			},
		},
		{
			name: "an unknown target name is invalid input",
			args: []string{"--target", "nope=127.0.0.1:1"}, exit: 2,
			wantErr: `tlsgen: error: --target "nope=127.0.0.1:1": "nope" is not a database or the Redis of the inventory (expected one of auth-db, tenant-db, redis)`,
		},
		{
			name: "a target without a port is invalid input",
			args: []string{"--target", "auth-db=127.0.0.1"}, exit: 2,
			wantErr: `tlsgen: error: --target "auth-db=127.0.0.1": expected NAME=HOST:PORT`,
		},
		{
			name: "a PKI directory without a CA is invalid input",
			args: []string{"--pki", t.TempDir()}, exit: 2,
			wantErr: "ca/ca-cert.pem: no CA certificate",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			if tc.stack != nil {
				s = tc.stack
			}
			v := runVerify(t, s, tc.args...)
			v.wantExit(t, tc.exit)
			for _, w := range tc.want {
				v.wantLine(t, w.target, w.check, w.status, w.detail)
			}
			if tc.wantErr != "" && !strings.Contains(v.stderr, tc.wantErr) {
				t.Errorf("stderr does not say %q:\n%s", tc.wantErr, v.stderr)
			}
			if tc.allOKFor != "" {
				v.wantAll(t, tc.allOKFor, verify.OK, 7)
			}
		})
	}
}

// verifyRun is what one tlsgen verify printed.
type verifyRun struct {
	exit           int
	stdout, stderr string
	lines          [][4]string // target, check, result, detail
}

// runVerify runs tlsgen verify on the stack's inventory and PKI directory.
func runVerify(t *testing.T, s *stack, args ...string) *verifyRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tlsgenBin, append([]string{"verify", "-f", s.invFile, "--pki", s.pkiDir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	v := &verifyRun{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		v.exit = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	cols := regexp.MustCompile(`\s{2,}`)
	for _, l := range strings.Split(strings.TrimSpace(v.stdout), "\n") {
		if l == "" {
			continue
		}
		f := cols.Split(l, 4)
		if len(f) != 4 {
			t.Fatalf("a line that is not target, check, result, detail: %q", l)
		}
		v.lines = append(v.lines, [4]string(f))
	}
	return v
}

func (v *verifyRun) wantExit(t *testing.T, code int) {
	t.Helper()
	if v.exit != code {
		t.Fatalf("tlsgen verify exited %d, want %d\nstdout:\n%s\nstderr:\n%s", v.exit, code, v.stdout, v.stderr)
	}
}

func (v *verifyRun) wantLine(t *testing.T, target, check string, status verify.Status, detail string) {
	t.Helper()
	for _, l := range v.lines {
		if l[0] == target && l[1] == check {
			if l[2] != string(status) || !regexp.MustCompile(detail).MatchString(l[3]) {
				t.Errorf("%s %s: %s %q, want %s matching %q", target, check, l[2], l[3], status, detail)
			}
			return
		}
	}
	t.Errorf("no line for %s %s in:\n%s", target, check, v.stdout)
}

// wantAll wants n checks of target, every one with status.
func (v *verifyRun) wantAll(t *testing.T, target string, status verify.Status, n int) {
	t.Helper()
	count := 0
	for _, l := range v.lines {
		if l[0] != target {
			continue
		}
		count++
		if l[2] != string(status) {
			t.Errorf("%s %s: %s %q, want %s", target, l[1], l[2], l[3], status)
		}
	}
	if count != n {
		t.Errorf("%d checks of %s, want %d:\n%s", count, target, n, v.stdout)
	}
}
