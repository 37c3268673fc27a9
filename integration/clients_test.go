package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bakery-ia/tlsgen/internal/gen"
	"github.com/bakery-ia/tlsgen/internal/servers"
	"github.com/bakery-ia/tlsgen/pkg/model"
	"github.com/bakery-ia/tlsgen/pkg/render"
	"github.com/bakery-ia/tlsgen/pkg/verify"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
)

// The clients of these tests: auth-service (auth-db and the Redis, as
// auth_user) and tenant-service (tenant-db, as tenant_user), Deployments
// of examples/base that run as uid 1000 with fsGroup 1000.
var testClients = gen.Clients(gen.AuthService, gen.TenantService)

// The drivers a client is tried with. psql is libpq, which psycopg uses
// too; each reads the same PG* environment.
const (
	psqlDriver    = "psql"
	pgxDriver     = "pgx"
	asyncpgDriver = "asyncpg"
)

var drivers = []string{psqlDriver, pgxDriver, asyncpgDriver}

// clientQuery says, in one line, how the server sees the connection.
const clientQuery = `SELECT CASE WHEN ssl THEN 'tls ' || version ELSE 'plain' END || ' ' || coalesce(client_dn, '-') || ' ' || current_user FROM pg_stat_ssl WHERE pid = pg_backend_pid()`

// pgxHelperEnv makes the test binary a pgx client (see TestMain): pgx is
// a library, and a client that runs as another user is another process.
const pgxHelperEnv = "TLSGEN_TEST_PGX_CLIENT"

// pgxClient connects with pgx from the PG* environment alone, as a
// client pod does, with the host resolved to 127.0.0.1, and prints
// clientQuery's answer. It returns the exit status.
func pgxClient() int {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg.LookupFunc = func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, clientQuery).Scan(&s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(s)
	return 0
}

// asyncpgScript connects with asyncpg from the PG* environment alone,
// the host (argv[1]) resolved to 127.0.0.1, and prints clientQuery's
// answer.
const asyncpgScript = `
import asyncio, os, socket, sys
import asyncpg
host = sys.argv[1]
resolve = socket.getaddrinfo
def loopback(h, *args, **kwargs):
    return resolve('127.0.0.1' if h == host else h, *args, **kwargs)
socket.getaddrinfo = loopback
async def main():
    conn = await asyncpg.connect(timeout=15)
    try:
        print(await conn.fetchval(sys.argv[2]))
    finally:
        await conn.close()
asyncio.run(main())
`

// debianPython is Debian's python3, which python3-asyncpg installs for.
const debianPython = "/usr/bin/python3"

// account is a user a client runs as; nil is the test's own (root).
type account struct {
	uid, gid uint32
	groups   []uint32
}

// helperBinary is the test binary, copied where another user can run it.
var helperBinary = sync.OnceValues(func() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "tlsgen-helper-")
	if err != nil {
		return "", err
	}
	helperDirs = append(helperDirs, dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	in, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer in.Close()
	p := filepath.Join(dir, "integration.test")
	out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return "", err
	}
	return p, out.Close()
})

// helperDirs are removed when the tests end.
var helperDirs []string

// runDriver connects with driver, from env (PG* variables), as acct, and
// returns what the server says of the connection, or the driver's error.
func runDriver(t *testing.T, driver string, env []string, acct *account) (string, error) {
	t.Helper()
	var cmd *exec.Cmd
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch driver {
	case psqlDriver:
		cmd = exec.CommandContext(ctx, servers.PostgresBinary(t, "psql"), "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", clientQuery)
	case pgxDriver:
		bin, err := helperBinary()
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.CommandContext(ctx, bin)
		env = append(env, pgxHelperEnv+"=1")
	case asyncpgDriver:
		if _, err := os.Stat(debianPython); err != nil {
			t.Fatalf("%s: %v; asyncpg is Debian's python3-asyncpg (.ci/run installs it)", debianPython, err)
		}
		cmd = exec.CommandContext(ctx, debianPython, "-c", asyncpgScript, envValue(env, "PGHOST"), clientQuery)
	default:
		t.Fatalf("unknown driver %q", driver)
	}
	// Only what a pod would have: no PG* or HOME of the test's own.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8"}
	cmd.Env = append(cmd.Env, env...)
	if acct != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: acct.uid, Gid: acct.gid, Groups: acct.groups}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", driver, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func envValue(env []string, name string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, name+"="); ok {
			return v
		}
	}
	return ""
}

// withoutEnv drops the named variables.
func withoutEnv(env []string, names ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(e string) bool {
		name, _, _ := strings.Cut(e, "=")
		return slices.Contains(names, name)
	})
}

// replaceEnv sets name to value.
func replaceEnv(env []string, name, value string) []string {
	return append(withoutEnv(env, name), name+"="+value)
}

// clientPod is a client's container laid out on disk: its volumes as the
// kubelet mounts them, and the environment tlsgen gives it, with the
// pod's paths changed to those directories.
type clientPod struct {
	env []string
	// dirs are the volumes by the pod's mount path.
	dirs map[string]string
	// runAsUser and fsGroup are the pod's.
	runAsUser, fsGroup *int64
}

// layoutClient lays out client's container of the built Deployment in a
// directory every user can reach. Each Secret and ConfigMap volume is
// written as the kubelet writes it (see writeVolume), with the pod's
// fsGroup when withFSGroup.
func (s *stack) layoutClient(t *testing.T, client string, withFSGroup bool) *clientPod {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("laying out a Secret volume as the kubelet does needs root: its files are root's, and the client runs as another user (CI runs as root)")
	}
	d := s.deployment(t, client)
	c := findContainer(t, d.Spec.Template.Spec.Containers, s.containers[client])
	pod := &clientPod{dirs: map[string]string{}}
	if sc := d.Spec.Template.Spec.SecurityContext; sc != nil {
		pod.runAsUser, pod.fsGroup = sc.RunAsUser, sc.FSGroup
	}
	var fsGroup *int64
	if withFSGroup {
		fsGroup = pod.fsGroup
	}
	root := servers.Dir(t, servers.Account{})
	for i, m := range c.VolumeMounts {
		v := findVolume(t, d, m.Name)
		dir := filepath.Join(root, strconv.Itoa(i))
		switch {
		case v.Secret != nil:
			sec := s.secrets[v.Secret.SecretName]
			if sec == nil {
				t.Fatalf("Deployment %s mounts Secret %s, which the overlay does not hold", client, v.Secret.SecretName)
			}
			writeVolume(t, dir, sec.Data, v.Secret.DefaultMode, fsGroup)
		case v.ConfigMap != nil:
			data := map[string][]byte{}
			for k, val := range s.configMap(t, v.ConfigMap.Name).Data {
				data[k] = []byte(val)
			}
			writeVolume(t, dir, data, v.ConfigMap.DefaultMode, fsGroup)
		default:
			continue
		}
		pod.dirs[m.MountPath] = dir
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil || !slices.Contains(tlsgenEnv, e.Name) {
			continue // the base's own: secrets the test does not have
		}
		val := e.Value
		for mount, dir := range pod.dirs {
			if rest, ok := strings.CutPrefix(val, mount+"/"); ok {
				val = filepath.Join(dir, rest)
			}
		}
		pod.env = append(pod.env, e.Name+"="+val)
	}
	return pod
}

// tlsgenEnv are the variables tlsgen sets in a client.
var tlsgenEnv = []string{render.EnvPGSSLMode, render.EnvPGSSLRootCert, render.EnvPGSSLCert, render.EnvPGSSLKey,
	render.EnvRedisTLSCAFile, render.EnvRedisTLSCertFile, render.EnvRedisTLSKeyFile}

// writeVolume writes a Secret or ConfigMap volume as the kubelet does
// (pkg/volume/util/atomic_writer.go and volume_linux.go's
// SetVolumeOwnership): the files in a timestamped directory that ..data
// links to, each key a link into ..data; everything owned by root, each
// file with defaultMode (0644 when unset); with an fsGroup, the group
// becomes fsGroup and a read-only volume's files gain 0440.
func writeVolume(t *testing.T, dir string, data map[string][]byte, defaultMode *int32, fsGroup *int64) {
	t.Helper()
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	gid := 0
	if fsGroup != nil {
		gid = int(*fsGroup)
		mode |= 0o440
	}
	ts := filepath.Join(dir, "..2026_01_01_00_00_00.000000000")
	if err := os.MkdirAll(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, ts} {
		if err := os.Chown(d, 0, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for k, v := range data {
		p := filepath.Join(ts, k)
		if err := os.WriteFile(p, v, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 0, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
}

// asRoot and asPodUser are how a client runs: as root, or as the pod's
// runAsUser with the pod's fsGroup as a supplementary group (and a
// primary group of its own, 65534, so that only the fsGroup opens the
// files).
func (p *clientPod) asPodUser(t *testing.T) *account {
	t.Helper()
	if p.runAsUser == nil || p.fsGroup == nil || *p.runAsUser == 0 {
		t.Fatalf("the client Deployment runs as %v with fsGroup %v: want a non-root user with an fsGroup", p.runAsUser, p.fsGroup)
	}
	return &account{uid: uint32(*p.runAsUser), gid: 65534, groups: []uint32{uint32(*p.fsGroup)}}
}

// connEnv adds what a client's own configuration says (where and as whom
// to connect) to the rendered environment.
func connEnv(pod *clientPod, host string, port int, user string) []string {
	return append(slices.Clone(pod.env),
		"PGHOST="+host, "PGHOSTADDR=127.0.0.1", "PGPORT="+strconv.Itoa(port),
		"PGUSER="+user, "PGPASSWORD="+userPassword(user), "PGDATABASE=postgres", "PGCONNECT_TIMEOUT=10",
		"HOME=/nonexistent") // no ~/.postgresql to fall back on
}

func userPassword(user string) string { return user + "-password" }

// createUsers adds the clients' database users, with their passwords.
func createUsers(t *testing.T, pg *servers.Postgres, users ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", pg.SocketDir, pg.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, u := range users {
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", u, userPassword(u))); err != nil {
			t.Fatal(err)
		}
	}
}

// wantConnected checks what the server said of a connection: TLS at or
// above min, the client's certificate (or none), the user.
func wantConnected(t *testing.T, got string, err error, min, max, dn, user string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(got)
	if len(f) != 4 || f[0] != "tls" || tlsVersions[f[1]] < tlsVersions[min] || f[2] != dn || f[3] != user {
		t.Fatalf("the server sees %q; want tls at or above %s, client certificate %s, user %s", got, min, dn, user)
	}
	if max != "" && f[1] != max {
		t.Fatalf("the server sees %q; want %s", got, max)
	}
}

// wantRefused checks a driver's error against a pattern.
func wantRefused(t *testing.T, got string, err error, pattern string) {
	t.Helper()
	if err == nil {
		t.Fatalf("connected (%s); want it refused", got)
	}
	if !regexp.MustCompile(pattern).MatchString(err.Error()) {
		t.Fatalf("refused with %v\nwant an error matching %q", err, pattern)
	}
}

func TestClientsVerifyTheServers(t *testing.T) {
	t.Parallel()
	acct := servers.PostgresAccount(t)
	inv, data := genInventory(testClients, gen.UID(int64(acct.UID)))
	s := renderStack(t, inv, data, nil, time.Now())
	pg := startPostgres(t, acct, s.layoutPostgres(t, acct, "auth-db"))
	createUsers(t, pg, "auth_user")

	// The same inventory with another CA: a server a client must refuse.
	otherInv, otherData := genInventory(testClients, gen.UID(int64(acct.UID)), gen.With(func(inv *model.Inventory) { inv.PKI.CA.CommonName = "Other CA" }))
	other := renderStack(t, otherInv, otherData, nil, time.Now())
	impostor := startPostgres(t, acct, other.layoutPostgres(t, acct, "auth-db"))
	createUsers(t, impostor, "auth_user")

	pod := s.layoutClient(t, "auth-service", true)
	if v := envValue(pod.env, "PGSSLMODE"); v != "verify-full" {
		t.Fatalf("PGSSLMODE = %q, want verify-full", v)
	}
	if envValue(pod.env, "PGSSLCERT") != "" {
		t.Fatalf("a client certificate with postgres.clientAuth none: %q", pod.env)
	}
	fqdn := s.inv.ServiceFQDN(s.database(t, "auth-db").Service)
	min := s.inv.TLS.Profile.Minimum()
	for _, driver := range drivers {
		t.Run(driver+" connects with the rendered environment: verify-full, the CA from the bundle", func(t *testing.T) {
			got, err := runDriver(t, driver, connEnv(pod, fqdn, pg.Port, "auth_user"), pod.asPodUser(t))
			wantConnected(t, got, err, min, "", "-", "auth_user")
		})
		t.Run(driver+" refuses a server whose certificate another CA signed", func(t *testing.T) {
			got, err := runDriver(t, driver, connEnv(pod, fqdn, impostor.Port, "auth_user"), pod.asPodUser(t))
			wantRefused(t, got, err, `certificate verify failed|unknown authority`)
		})
		t.Run(driver+" refuses a name the certificate does not cover", func(t *testing.T) {
			got, err := runDriver(t, driver, connEnv(pod, "auth-db.example.com", pg.Port, "auth_user"), pod.asPodUser(t))
			wantRefused(t, got, err, `does not match host name|certificate is valid for|doesn't match|[Hh]ostname mismatch`)
		})
	}
	t.Run("go-redis gets PONG with REDIS_TLS_CA_FILE", func(t *testing.T) {
		r := s.startRedis(t, nil)
		got, err := redisPing(t, r, s.inv.ServiceFQDN(s.inv.Redis.Service), envValue(pod.env, render.EnvRedisTLSCAFile), "", "")
		if err != nil || got != "PONG" {
			t.Fatalf("PING = %q, %v; want PONG", got, err)
		}
	})
	t.Run("tlsgen verify --client says the server takes no client certificate, as the inventory has it", func(t *testing.T) {
		v := runVerify(t, s, "--client", "auth-service", "--target", "auth-db="+pg.Addr())
		v.wantExit(t, 0)
		v.wantLine(t, "auth-db", verify.CheckClientCert, verify.Skip, `^the inventory gives auth-service no certificate for this server \(postgres.clientAuth is none\)$`)
		v.wantLine(t, "auth-db", verify.CheckClientRequired, verify.OK, `^not required, as postgres.clientAuth is none: the server asks auth_user for SASL \(scram-sha-256\)$`)
	})
}

// redisPing pings r as a client with these files (the certificate and key
// may be "").
func redisPing(t *testing.T, r *redisServer, serverName, caFile, certFile, keyFile string) (string, error) {
	t.Helper()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("%s: no certificate", caFile)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: serverName}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: password, TLSConfig: cfg, MaxRetries: -1, DialTimeout: 5 * time.Second, DisableIdentity: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Ping(ctx).Result()
}

// redisCLI runs redis-cli PING against r with env's REDIS_TLS_* files.
func redisCLI(t *testing.T, r *redisServer, env []string) (string, error) {
	t.Helper()
	args := []string{"--tls", "--cacert", envValue(env, render.EnvRedisTLSCAFile), "-h", "127.0.0.1", "-p", strconv.Itoa(r.Port)}
	if c := envValue(env, render.EnvRedisTLSCertFile); c != "" {
		args = append(args, "--cert", c, "--key", envValue(env, render.EnvRedisTLSKeyFile))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, servers.RedisCLI(t), append(args, "ping")...)
	cmd.Env = []string{"REDISCLI_AUTH=" + password}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	acct := servers.PostgresAccount(t)
	cases := []struct {
		name string
		opts []gen.Option
		// refusedCN is how the server refuses a certificate whose CN is
		// another user: verify-full checks it after the password, and says
		// the password failed.
		refusedCN string
		// tls12 caps the servers at TLS 1.2, where a refused certificate
		// ends the handshake itself; under TLS 1.3 the client's side of the
		// handshake is over before the server refuses it.
		tls12 bool
	}{
		{
			name:      "postgres verify-full and redis required, the servers capped at TLS 1.2",
			opts:      []gen.Option{gen.ClientAuth(model.PostgresClientAuthVerifyFull, model.RedisClientAuthRequired)},
			refusedCN: `password authentication failed for user "auth_user"`,
			tls12:     true,
		},
		{
			name: "postgres cert and redis required, TLS 1.3, encrypted with age",
			opts: []gen.Option{gen.ClientAuth(model.PostgresClientAuthCert, model.RedisClientAuthRequired), gen.Profile(model.Modern),
				gen.With(func(inv *model.Inventory) {
					inv.Encryption = &model.Encryption{Age: []string{testIdentity().Recipient().String()}}
				})},
			refusedCN: `certificate authentication failed for user "auth_user"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := append([]gen.Option{testClients, gen.UID(int64(acct.UID))}, tc.opts...)
			inv, data := genInventory(opts...)
			s := renderStack(t, inv, data, nil, time.Now())
			otherInv, otherData := genInventory(append(opts, gen.With(func(inv *model.Inventory) { inv.PKI.CA.CommonName = "Other CA" }))...)
			other := renderStack(t, otherInv, otherData, nil, time.Now())
			checkMutualPostgres(t, s, other, acct, tc.refusedCN, tc.tls12)
			checkMutualRedis(t, s, other, tc.tls12)
		})
	}
}

func checkMutualPostgres(t *testing.T, s, other *stack, acct servers.Account, refusedCN string, tls12 bool) {
	files := s.layoutPostgres(t, acct, "auth-db")
	min := s.inv.TLS.Profile.Minimum()
	if tls12 {
		files.Conf += "ssl_max_protocol_version = 'TLSv1.2'\n"
		min = "TLSv1.2"
	}
	pg := startPostgres(t, acct, files)
	createUsers(t, pg, "auth_user", "tenant_user")
	max := ""
	if tls12 {
		max = "TLSv1.2"
	}
	fqdn := s.inv.ServiceFQDN(s.database(t, "auth-db").Service)

	withGroup := s.layoutClient(t, "auth-service", true)
	noGroup := s.layoutClient(t, "auth-service", false)
	tenant := s.layoutClient(t, "tenant-service", true)
	otherCA := other.layoutClient(t, "auth-service", true)
	runs := []struct {
		name string
		pod  *clientPod
		as   func(t *testing.T) *account
	}{
		{"as root", noGroup, func(*testing.T) *account { return nil }},
		{"as the pod's non-root user, through its fsGroup", withGroup, withGroup.asPodUser},
	}
	for _, driver := range drivers {
		for _, run := range runs {
			t.Run(driver+" connects "+run.name+" with the rendered Secret, presenting the client's certificate", func(t *testing.T) {
				got, err := runDriver(t, driver, connEnv(run.pod, fqdn, pg.Port, "auth_user"), run.as(t))
				wantConnected(t, got, err, min, max, "/CN=auth_user", "auth_user")
			})
		}
		t.Run(driver+" without a certificate is refused", func(t *testing.T) {
			env := withoutEnv(connEnv(withGroup, fqdn, pg.Port, "auth_user"), "PGSSLCERT", "PGSSLKEY")
			got, err := runDriver(t, driver, env, withGroup.asPodUser(t))
			wantRefused(t, got, err, `connection requires a valid client certificate`)
		})
		t.Run(driver+" with a certificate from another CA is refused", func(t *testing.T) {
			env := connEnv(withGroup, fqdn, pg.Port, "auth_user")
			env = replaceEnv(env, "PGSSLCERT", envValue(otherCA.env, "PGSSLCERT"))
			env = replaceEnv(env, "PGSSLKEY", envValue(otherCA.env, "PGSSLKEY"))
			// libpq and Python send the certificate, and the server's alert
			// ends the handshake (Python may see only the reset that
			// follows, under TLS 1.2); Go sends none that the server's list
			// of acceptable CAs does not name, and pg_hba.conf refuses the
			// connection without one. The server's log says which.
			before := serverRefusals.FindAllStringIndex(pg.Log(), -1)
			got, err := runDriver(t, driver, env, withGroup.asPodUser(t))
			wantRefused(t, got, err, `(?i)alert unknown ca|connection requires a valid client certificate|connection reset by peer`)
			// The backend writes its log line as it exits, which may be just
			// after the client has seen the refusal: wait for it a little.
			deadline := time.Now().Add(5 * time.Second)
			for len(serverRefusals.FindAllStringIndex(pg.Log(), -1)) <= len(before) {
				if time.Now().After(deadline) {
					t.Fatalf("the server's log says nothing of a refused certificate:\n%s", pg.Log())
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
		t.Run(driver+" with the certificate of another user is refused", func(t *testing.T) {
			env := connEnv(withGroup, fqdn, pg.Port, "auth_user")
			env = replaceEnv(env, "PGSSLCERT", envValue(tenant.env, "PGSSLCERT"))
			env = replaceEnv(env, "PGSSLKEY", envValue(tenant.env, "PGSSLKEY"))
			got, err := runDriver(t, driver, env, withGroup.asPodUser(t))
			wantRefused(t, got, err, regexp.QuoteMeta(refusedCN))
		})
	}

	t.Run("libpq accepts the key as mounted: root's, mode 0440, with or without the fsGroup", func(t *testing.T) {
		for _, p := range []*clientPod{noGroup, withGroup} {
			key := envValue(p.env, "PGSSLKEY")
			st, err := os.Stat(key)
			if err != nil {
				t.Fatal(err)
			}
			sys := st.Sys().(*syscall.Stat_t)
			if st.Mode().Perm() != 0o440 || sys.Uid != 0 {
				t.Errorf("%s: mode %v, owner %d; want 0440 and root", key, st.Mode().Perm(), sys.Uid)
			}
		}
	})
	t.Run("libpq refuses the key as a Secret volume mounts it by default (0644)", func(t *testing.T) {
		dir := servers.Dir(t, servers.Account{})
		sec := s.secrets["auth-service-client-tls"]
		writeVolume(t, dir, sec.Data, nil, nil)
		env := connEnv(noGroup, fqdn, pg.Port, "auth_user")
		env = replaceEnv(env, "PGSSLKEY", filepath.Join(dir, "tls.key"))
		got, err := runDriver(t, psqlDriver, env, nil)
		wantRefused(t, got, err, `private key file ".*" has group or world access`)
	})
	t.Run("a non-root client without an fsGroup cannot read its key, as render warns", func(t *testing.T) {
		got, err := runDriver(t, psqlDriver, connEnv(noGroup, fqdn, pg.Port, "auth_user"), withGroup.asPodUser(t).withoutGroups())
		wantRefused(t, got, err, `could not (open|read) certificate file ".*/tls.crt"`)
	})

	t.Run("tlsgen verify --client finds its certificate taken and one required", func(t *testing.T) {
		v := runVerify(t, s, append(ageIdentityFlag(t, s), "--client", "auth-service", "--target", "auth-db="+pg.Addr())...)
		v.wantExit(t, 0)
		v.wantAll(t, "auth-db", verify.OK, 10)
		v.wantLine(t, "auth-db", verify.CheckClientRequired, verify.OK, `^a client without a certificate is refused: connection requires a valid client certificate \(SQLSTATE 28000\)$`)
	})
	t.Run("tlsgen verify --client finds a server that does not require a certificate", func(t *testing.T) {
		files := s.layoutPostgres(t, acct, "auth-db")
		files.HBA = regexp.MustCompile(`(?m)^hostssl .*$`).ReplaceAllString(files.HBA, "hostssl all all all scram-sha-256")
		lax := startPostgres(t, acct, files)
		v := runVerify(t, s, append(ageIdentityFlag(t, s), "--client", "auth-service", "--target", "auth-db="+lax.Addr())...)
		v.wantExit(t, 1)
		v.wantLine(t, "auth-db", verify.CheckClientRequired, verify.Fail, `^a client without a certificate is let in \(the server asks auth_user for SASL \(scram-sha-256\)\), but postgres.clientAuth is (verify-full|cert) \(expected the server to require one\)$`)
	})
	t.Run("tlsgen verify --client with a certificate from another CA is refused by the server", func(t *testing.T) {
		v := runVerify(t, other, append(ageIdentityFlag(t, other), "--client", "auth-service", "--target", "auth-db="+pg.Addr())...)
		v.wantExit(t, 1)
		// Under TLS 1.3 the alert races the startup message: the refusal is
		// read as the alert, or as the reset that follows it.
		v.wantLine(t, "auth-db", verify.CheckClientCert, verify.Fail, `^auth-service's certificate refused: .*(unknown certificate authority|connection reset by peer)`)
	})
}

// serverRefusals are PostgreSQL's log lines for a client certificate it
// did not take: signed by an unknown CA, or none sent.
var serverRefusals = regexp.MustCompile(`could not accept SSL connection: certificate verify failed|connection requires a valid client certificate`)

// withoutGroups is a without its supplementary groups: a pod with no
// fsGroup.
func (a *account) withoutGroups() *account {
	return &account{uid: a.uid, gid: a.gid}
}

// ageIdentityFlag passes the age identity to tlsgen verify when the
// stack's keys are sealed.
func ageIdentityFlag(t *testing.T, s *stack) []string {
	t.Helper()
	if s.inv.Encryption == nil {
		return nil
	}
	p := filepath.Join(s.dir, "age-identity.txt")
	if err := os.WriteFile(p, []byte(testIdentity().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--age-identity", p}
}

func checkMutualRedis(t *testing.T, s, other *stack, tls12 bool) {
	var edit func([]string) []string
	if tls12 {
		edit = func(args []string) []string {
			i := slices.Index(args, "--tls-protocols")
			if i < 0 {
				t.Fatalf("rendered Redis arguments have no --tls-protocols: %q", args)
			}
			args = slices.Clone(args)
			args[i+1] = "TLSv1.2"
			return args
		}
	}
	r := s.startRedis(t, edit)
	fqdn := s.inv.ServiceFQDN(s.inv.Redis.Service)
	pod := s.layoutClient(t, "auth-service", true)
	otherPod := other.layoutClient(t, "auth-service", true)
	ca, crt, key := envValue(pod.env, render.EnvRedisTLSCAFile), envValue(pod.env, render.EnvRedisTLSCertFile), envValue(pod.env, render.EnvRedisTLSKeyFile)
	if ca == "" || crt == "" || key == "" {
		t.Fatalf("auth-service's environment lacks REDIS_TLS_*: %q", pod.env)
	}
	t.Run("redis-cli gets PONG with the client's certificate", func(t *testing.T) {
		if out, err := redisCLI(t, r, pod.env); err != nil || out != "PONG" {
			t.Fatalf("redis-cli: %q, %v; want PONG", out, err)
		}
	})
	t.Run("go-redis gets PONG with the client's certificate", func(t *testing.T) {
		if got, err := redisPing(t, r, fqdn, ca, crt, key); err != nil || got != "PONG" {
			t.Fatalf("PING = %q, %v; want PONG", got, err)
		}
	})
	t.Run("redis-cli without a certificate fails the handshake", func(t *testing.T) {
		out, err := redisCLI(t, r, withoutEnv(pod.env, render.EnvRedisTLSCertFile, render.EnvRedisTLSKeyFile))
		if err == nil && out == "PONG" || strings.Contains(out, "NOAUTH") {
			t.Fatalf("redis-cli without a certificate: %q, %v; want the TLS handshake refused", out, err)
		}
		if !regexp.MustCompile(`(?i)ssl|tls|certificate|handshake|connection`).MatchString(out) {
			t.Fatalf("redis-cli without a certificate: %q, %v; want a TLS error", out, err)
		}
	})
	t.Run("go-redis without a certificate fails the handshake", func(t *testing.T) {
		got, err := redisPing(t, r, fqdn, ca, "", "")
		if err == nil || strings.Contains(err.Error(), "NOAUTH") || !strings.Contains(err.Error(), "tls") {
			t.Fatalf("PING = %q, %v; want the TLS handshake refused", got, err)
		}
	})
	t.Run("go-redis with a certificate from another CA fails the handshake", func(t *testing.T) {
		got, err := redisPing(t, r, fqdn, ca, envValue(otherPod.env, render.EnvRedisTLSCertFile), envValue(otherPod.env, render.EnvRedisTLSKeyFile))
		if err == nil || !strings.Contains(err.Error(), "tls") {
			t.Fatalf("PING = %q, %v; want the TLS handshake refused", got, err)
		}
	})
	t.Run("the rendered probes present the probe certificate and get PONG", func(t *testing.T) {
		for _, p := range []*corev1.Probe{r.container.LivenessProbe, r.container.ReadinessProbe} {
			if err := r.probe(t, p); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("tlsgen verify presents the probe certificate and passes every check", func(t *testing.T) {
		v := runVerify(t, s, append(ageIdentityFlag(t, s), "--target", "redis="+r.Addr())...)
		v.wantExit(t, 0)
		v.wantAll(t, "redis", verify.OK, 7)
	})
	t.Run("tlsgen verify --client finds the Redis takes its certificate and requires one", func(t *testing.T) {
		v := runVerify(t, s, append(ageIdentityFlag(t, s), "--client", "auth-service", "--target", "redis="+r.Addr())...)
		v.wantExit(t, 0)
		v.wantAll(t, "redis", verify.OK, 9)
		v.wantLine(t, "redis", verify.CheckClientCert, verify.OK, `^auth-service's certificate accepted: PING answered "-NOAUTH`)
		// Under TLS 1.3 the server's alert and its close race the client's
		// PING: the refusal is read as the alert, or as the reset that
		// follows it.
		v.wantLine(t, "redis", verify.CheckClientRequired, verify.OK, `^a client without a certificate is refused: .*(certificate required|handshake failure|connection reset by peer|broken pipe)`)
	})
}
