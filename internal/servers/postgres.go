package servers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// PostgresConfig is what a PostgreSQL server is started from: the rendered
// files, with only the listen address, the port and the file paths changed.
type PostgresConfig struct {
	// Conf is postgresql.conf as rendered (the ConfigMap's key).
	Conf string
	// HBA is pg_hba.conf as rendered.
	HBA string
	// TLSDir stands for the pod's /tls: the files the init container laid out.
	TLSDir string
	// PodTLSDir is the path the rendered Conf names, "/tls".
	PodTLSDir string
}

// Postgres is a running PostgreSQL server.
type Postgres struct {
	*process
	Port      int
	SocketDir string
	Dir       string
}

// Addr is the server's TCP address.
func (p *Postgres) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// postgresBinDir is where Debian's postgresql-15 installs its binaries
// (pg_config --bindir of that package).
const postgresBinDir = "/usr/lib/postgresql/15/bin"

// PostgresBinary returns the path of a PostgreSQL binary (postgres, initdb).
func PostgresBinary(t testing.TB, name string) string {
	return binary(t, name, postgresBinDir)
}

// StartPostgres initialises a data directory with initdb (trust, superuser
// postgres) and starts postgres on 127.0.0.1 and a free port with cfg's
// files, as acct. It returns a *StartError, with the server's log, when
// the server does not come up: tests of what PostgreSQL refuses use it.
func StartPostgres(t testing.TB, acct Account, cfg PostgresConfig) (*Postgres, error) {
	t.Helper()
	initdb := PostgresBinary(t, "initdb")
	postgres := PostgresBinary(t, "postgres")
	dir := Dir(t, acct)
	data := filepath.Join(dir, "data")
	port := FreePort(t)

	init := exec.Command(initdb, "-D", data, "--auth=trust", "-U", "postgres", "--no-sync", "--no-instructions")
	init.SysProcAttr = sysProcAttr(acct)
	init.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := init.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	hba := filepath.Join(dir, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte(cfg.HBA), 0o644); err != nil {
		return nil, err
	}
	conf, err := testConf(cfg, port, hba)
	if err != nil {
		return nil, err
	}
	confFile := filepath.Join(dir, "postgresql.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, err
	}

	// -D names the data directory beside config_file, as PGDATA does in
	// the image; -k puts the Unix socket where the pg_hba "local" line and
	// the test's setup can reach it.
	cmd := exec.Command(postgres, "-D", data, "-c", "config_file="+confFile, "-k", dir)
	cmd.SysProcAttr = sysProcAttr(acct)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	p, err := start(t, "postgres", cmd, filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	pg := &Postgres{process: p, Port: port, SocketDir: dir, Dir: dir}
	// postmaster.pid's eighth line says "ready" once the server accepts
	// connections: pg_ctl -w waits on the same line.
	pidFile := filepath.Join(data, "postmaster.pid")
	if err := p.waitFor(func() bool { return readLine(pidFile, 8) == "ready" }); err != nil {
		return nil, err
	}
	return pg, nil
}

var (
	listenLine = regexp.MustCompile(`(?m)^listen_addresses = .*$`)
	portLine   = regexp.MustCompile(`(?m)^port = .*$`)
	hbaLine    = regexp.MustCompile(`(?m)^hba_file = .*$`)
	sslLine    = regexp.MustCompile(`(?m)^(ssl_(?:cert|key|ca)_file) = '([^']*)'$`)
)

// testConf changes what a test must in the rendered postgresql.conf: the
// listen address, the port, and the paths. Each must be there to change,
// so that a change in the rendered file fails the test instead of slipping
// past it.
func testConf(cfg PostgresConfig, port int, hba string) (string, error) {
	conf := cfg.Conf
	for _, r := range []struct {
		re   *regexp.Regexp
		with string
	}{
		{listenLine, "listen_addresses = '127.0.0.1'"},
		{portLine, "port = " + strconv.Itoa(port)},
		{hbaLine, "hba_file = '" + hba + "'"},
	} {
		if !r.re.MatchString(conf) {
			return "", fmt.Errorf("rendered postgresql.conf has no line matching %s", r.re)
		}
		conf = r.re.ReplaceAllLiteralString(conf, r.with)
	}
	if n := len(sslLine.FindAllString(conf, -1)); n != 3 {
		return "", fmt.Errorf("rendered postgresql.conf has %d of ssl_cert_file, ssl_key_file, ssl_ca_file", n)
	}
	var bad error
	conf = sslLine.ReplaceAllStringFunc(conf, func(line string) string {
		m := sslLine.FindStringSubmatch(line)
		rel, ok := strings.CutPrefix(m[2], cfg.PodTLSDir+"/")
		if !ok {
			bad = fmt.Errorf("rendered %s is %s, outside %s", m[1], m[2], cfg.PodTLSDir)
		}
		return m[1] + " = '" + filepath.Join(cfg.TLSDir, rel) + "'"
	})
	return conf, bad
}
