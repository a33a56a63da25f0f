package peerbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresInstall is what to run to get the PostgreSQL server this package starts.
const PostgresInstall = "apt-get install postgresql (Debian's PostgreSQL), or make bench-peers-deps"

// FindPostgres returns the directory holding initdb and postgres: dir if
// set, else the one of initdb on the PATH, else Debian's newest
// /usr/lib/postgresql/*/bin (Debian keeps the server binaries off the PATH).
func FindPostgres(dir string) (string, error) {
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
			return "", fmt.Errorf("postgres server not found in %s (%w): %s", dir, err, PostgresInstall)
		}
		return dir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("postgres server not found (no initdb on the PATH nor in /usr/lib/postgresql/*/bin): %s", PostgresInstall)
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Postgres is a PostgreSQL server process on 127.0.0.1 with its cluster in
// a directory of its own (initdb's defaults, fsync and synchronous commit
// on), reached over TCP on loopback.
type Postgres struct {
	Version string // postgres --version
	DSN     string
	RunAs   string // the user the server runs as
	proc    *exec.Cmd
	done    chan struct{}
}

// StartPostgres creates a cluster in dir/data with binDir's initdb and
// starts its server, allowing maxConns connections. PostgreSQL refuses to
// run as root: when this process is root, the server runs as runAs
// (Debian's package creates the user postgres), dir is handed to that
// user, and initdb and postgres are started with its credentials.
func StartPostgres(ctx context.Context, binDir, dir, runAs string, maxConns int) (*Postgres, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("postgres --version: %w", err)
	}
	// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → "PostgreSQL 15.18"
	v := strings.Fields(strings.TrimSpace(string(out)))
	if len(v) >= 3 && v[1] == "(PostgreSQL)" {
		v = []string{"PostgreSQL", v[2]}
	}
	pg := &Postgres{Version: strings.Join(v, " ")}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		if runAs == "" {
			runAs = "postgres"
		}
		u, err := user.Lookup(runAs)
		if err != nil {
			return nil, fmt.Errorf("postgres refuses to run as root and there is no user %q to run it as (%w): %s, or pass another user", runAs, err, PostgresInstall)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("postgres: hand %s to %s: %w", dir, runAs, err)
		}
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		pg.RunAs = runAs
	} else if u, err := user.Current(); err == nil {
		pg.RunAs = u.Username
	}
	// The parents of dir must let the server's user through (os.MkdirTemp
	// makes dir 0700, which the chown above covers).
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), "-D", data, "-U", "bench", "-A", "trust",
		"-E", "UTF8", "--locale", "C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postgres initdb: %w\n%s", err, out)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pg.proc = exec.Command(filepath.Join(binDir, "postgres"), "-D", data, "-p", strconv.Itoa(ports[0]), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", fmt.Sprintf("max_connections=%d", max(maxConns+10, 100)))
	pg.proc.Stdout, pg.proc.Stderr = logf, logf
	pg.proc.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := pg.proc.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("postgres: start: %w", err)
	}
	pg.done = make(chan struct{})
	go func() { pg.proc.Wait(); logf.Close(); close(pg.done) }()
	pg.DSN = fmt.Sprintf("postgres://bench@127.0.0.1:%d/postgres?sslmode=disable", ports[0])
	if err := pg.waitReady(ctx, 30*time.Second); err != nil {
		pg.Close()
		return nil, fmt.Errorf("%w (server log: %s)", err, logf.Name())
	}
	return pg, nil
}

func (pg *Postgres) waitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-pg.done:
			return errors.New("postgres: the server exited while starting")
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, pg.DSN)
		if err == nil {
			err = conn.Ping(cctx)
			conn.Close(cctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("postgres: not ready after %v (last: %v)", d, last)
}

// Close stops the server (fast shutdown, SIGKILL after 10 s) and waits for it.
func (pg *Postgres) Close() {
	if pg.proc == nil || pg.proc.Process == nil {
		return
	}
	pg.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-pg.done:
	case <-time.After(10 * time.Second):
		pg.proc.Process.Kill()
		<-pg.done
	}
}

// PGLedger is the co-op ledger's internal payment built on PostgreSQL the
// way an engineer would: accounts (balance, credit limit), payments, and
// double-entry postings (two rows per payment, indexed by account for the
// history), each payment one READ COMMITTED transaction that locks both
// accounts with SELECT … FOR UPDATE (in id order, so two payments never
// deadlock), checks the payer's limit, then writes. Statements are
// prepared and pipelined: BEGIN and the locking SELECT in one round trip,
// the writes and COMMIT in a second. One connection per client.
type PGLedger struct {
	pool    chan *pgx.Conn
	cfg     *pgx.ConnConfig
	members []string
}

const pgSchema = `
CREATE TABLE accounts (
  id text PRIMARY KEY,
  balance bigint NOT NULL DEFAULT 0,
  credit_limit bigint NOT NULL CHECK (credit_limit >= 0),
  system boolean NOT NULL DEFAULT false
);
CREATE TABLE payments (
  id uuid PRIMARY KEY,
  payer text NOT NULL REFERENCES accounts,
  payee text NOT NULL REFERENCES accounts,
  units bigint NOT NULL CHECK (units > 0),
  status text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE entries (
  seq bigserial PRIMARY KEY,
  payment_id uuid NOT NULL REFERENCES payments,
  account text NOT NULL REFERENCES accounts,
  units bigint NOT NULL
);
CREATE INDEX entries_account ON entries (account, seq);
`

// NewPGLedger creates the tables in a new schema of the database at dsn,
// with members accounts at zero and limit each, and opens conns
// connections.
func NewPGLedger(ctx context.Context, dsn, schema string, members int, limit int64, conns int) (*PGLedger, error) {
	if members < 2 || conns < 1 {
		return nil, errors.New("postgres ledger: need at least 2 members and a connection")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres ledger: %w", err)
	}
	cfg.RuntimeParams["search_path"] = schema
	l := &PGLedger{pool: make(chan *pgx.Conn, conns), cfg: cfg}
	setup, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres ledger: %w", err)
	}
	defer setup.Close(ctx)
	if _, err := setup.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return nil, fmt.Errorf("postgres ledger: schema: %w", err)
	}
	if _, err := setup.Exec(ctx, pgSchema); err != nil {
		return nil, fmt.Errorf("postgres ledger: schema: %w", err)
	}
	for i := range members {
		name := fmt.Sprintf("m%03d", i)
		if _, err := setup.Exec(ctx, "INSERT INTO accounts (id, credit_limit) VALUES ($1, $2)", name, limit); err != nil {
			return nil, fmt.Errorf("postgres ledger: member %s: %w", name, err)
		}
		l.members = append(l.members, name)
	}
	for range conns {
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("postgres ledger: %w", err)
		}
		l.pool <- c
	}
	return l, nil
}

// Close closes the connections.
func (l *PGLedger) Close() {
	for {
		select {
		case c := <-l.pool:
			c.Close(context.Background())
		default:
			return
		}
	}
}

// Pay is one transaction: lock both accounts, check the payer's limit,
// record the payment and its two postings, move the balances, commit.
func (l *PGLedger) Pay(ctx context.Context, p Payment) error {
	if p.From < 0 || p.From >= len(l.members) || p.To < 0 || p.To >= len(l.members) || p.From == p.To || p.Amount <= 0 {
		return fmt.Errorf("invalid payment %+v", p)
	}
	var c *pgx.Conn
	select {
	case c = <-l.pool:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := l.pay(ctx, c, p)
	if err != nil && !c.IsClosed() {
		// Leave no transaction open on the connection.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, rerr := c.Exec(rctx, "ROLLBACK")
		cancel()
		if rerr != nil {
			c.Close(context.Background())
		}
	}
	if c.IsClosed() {
		if nc, cerr := pgx.ConnectConfig(ctx, l.cfg); cerr == nil {
			c = nc
		}
	}
	l.pool <- c
	if err != nil {
		return fmt.Errorf("postgres pay %s: %w", p.ID, err)
	}
	return nil
}

func (l *PGLedger) pay(ctx context.Context, c *pgx.Conn, p Payment) error {
	from, to := l.members[p.From], l.members[p.To]
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT id, balance, credit_limit FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE", []string{from, to})
	br := c.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return err
	}
	var balance, limit int64
	found := 0
	for rows.Next() {
		var id string
		var bal, lim int64
		if err := rows.Scan(&id, &bal, &lim); err != nil {
			rows.Close()
			br.Close()
			return err
		}
		found++
		if id == from {
			balance, limit = bal, lim
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		br.Close()
		return err
	}
	if err := br.Close(); err != nil {
		return err
	}
	if found != 2 {
		return fmt.Errorf("found %d of the 2 accounts", found)
	}
	b = &pgx.Batch{}
	if balance-p.Amount < -limit {
		b.Queue("INSERT INTO payments (id, payer, payee, units, status) VALUES ($1, $2, $3, $4, 'rejected')", p.ID, from, to, p.Amount)
		b.Queue("COMMIT")
		if err := c.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return ErrInsufficientCredit
	}
	b.Queue("INSERT INTO payments (id, payer, payee, units, status) VALUES ($1, $2, $3, $4, 'committed')", p.ID, from, to, p.Amount)
	b.Queue("INSERT INTO entries (payment_id, account, units) VALUES ($1, $2, -$4::bigint), ($1, $3, $4::bigint)", p.ID, from, to, p.Amount)
	b.Queue("UPDATE accounts SET balance = balance - $2 WHERE id = $1", from, p.Amount)
	b.Queue("UPDATE accounts SET balance = balance + $2 WHERE id = $1", to, p.Amount)
	b.Queue("COMMIT")
	return c.SendBatch(ctx, b).Close()
}

// State reads the accounts with what their postings add up to, the
// committed payments, and any payment whose postings do not sum to zero.
func (l *PGLedger) State(ctx context.Context) (LedgerState, error) {
	c, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return LedgerState{}, fmt.Errorf("postgres state: %w", err)
	}
	defer c.Close(ctx)
	var s LedgerState
	rows, err := c.Query(ctx, `SELECT a.id, a.balance, a.credit_limit, a.system, COALESCE(SUM(e.units), 0)::bigint
		FROM accounts a LEFT JOIN entries e ON e.account = a.id GROUP BY a.id ORDER BY a.id`)
	if err != nil {
		return LedgerState{}, fmt.Errorf("postgres state: %w", err)
	}
	for rows.Next() {
		var a Account
		if err := rows.Scan(&a.Name, &a.Balance, &a.Limit, &a.System, &a.FromEntries); err != nil {
			rows.Close()
			return LedgerState{}, fmt.Errorf("postgres state: %w", err)
		}
		s.Accounts = append(s.Accounts, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return LedgerState{}, fmt.Errorf("postgres state: %w", err)
	}
	if err := c.QueryRow(ctx, "SELECT count(*) FROM payments WHERE status = 'committed'").Scan(&s.Committed); err != nil {
		return LedgerState{}, fmt.Errorf("postgres state: %w", err)
	}
	var unbalanced, entries, committedEntries int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM (SELECT payment_id FROM entries GROUP BY payment_id HAVING SUM(units) <> 0) u`).Scan(&unbalanced); err != nil {
		return LedgerState{}, fmt.Errorf("postgres state: %w", err)
	}
	if unbalanced > 0 {
		s.Problems = append(s.Problems, fmt.Sprintf("%d payments whose postings do not sum to zero", unbalanced))
	}
	if err := c.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE p.status = 'committed') FROM entries e JOIN payments p ON p.id = e.payment_id`).Scan(&entries, &committedEntries); err != nil {
		return LedgerState{}, fmt.Errorf("postgres state: %w", err)
	}
	if entries != committedEntries || entries != 2*s.Committed {
		s.Problems = append(s.Problems, fmt.Sprintf("%d postings (%d of committed payments) for %d committed payments, want two each", entries, committedEntries, s.Committed))
	}
	return s, nil
}
