package peerbench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EtcdInstall is what to run to get the etcd server this package starts.
const EtcdInstall = "apt-get install etcd-server (Debian's etcd 3.4), or make bench-peers-deps"

// FindEtcd returns the etcd binary: path if set, else etcd on the PATH.
func FindEtcd(path string) (string, error) {
	if path == "" {
		path = "etcd"
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("etcd server not found (%w): %s", err, EtcdInstall)
	}
	return p, nil
}

// EtcdCluster is a cluster of etcd server processes on 127.0.0.1, each
// with its data directory (WAL fsync'd, etcd's defaults) under one
// directory, replicating over TLS (peer certificates from a CA made for
// the run) and serving clients over plain gRPC on loopback.
type EtcdCluster struct {
	Version   string   // the server's version line
	Endpoints []string // client URLs, one per member
	Leader    string   // the client URL of the leader when the cluster became ready
	procs     []*exec.Cmd
	done      []chan struct{}
}

// StartEtcd starts an n-member etcd cluster with bin in dir and waits (up
// to 30 s) until every member answers and one leads. Server output goes to
// dir/etcd-<i>.log.
func StartEtcd(ctx context.Context, bin, dir string, n int) (*EtcdCluster, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("etcd: %s --version: %w", bin, err)
	}
	// "etcd Version: 3.4.23\nGit SHA: …" → "etcd 3.4.23"
	c := &EtcdCluster{Version: strings.Replace(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]), "Version: ", "", 1)}
	certFile, keyFile, caFile, err := writePeerCerts(dir)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range n {
		initial = append(initial, fmt.Sprintf("n%d=https://127.0.0.1:%d", i, ports[2*i+1]))
		c.Endpoints = append(c.Endpoints, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]))
	}
	for i := range n {
		peer := fmt.Sprintf("https://127.0.0.1:%d", ports[2*i+1])
		args := []string{
			"--name", fmt.Sprintf("n%d", i),
			"--data-dir", filepath.Join(dir, fmt.Sprintf("n%d", i)),
			"--listen-client-urls", c.Endpoints[i], "--advertise-client-urls", c.Endpoints[i],
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "icn-bench-peers",
			"--peer-cert-file", certFile, "--peer-key-file", keyFile,
			"--peer-trusted-ca-file", caFile, "--peer-client-cert-auth",
			"--logger", "zap", "--log-level", "warn",
		}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("etcd-%d.log", i)))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("etcd: %w", err)
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		// The servers die with this process, however it ends.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			c.Close()
			return nil, fmt.Errorf("etcd: start member %d: %w", i, err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); logf.Close(); close(done) }()
		c.procs, c.done = append(c.procs, cmd), append(c.done, done)
	}
	if err := c.waitReady(ctx, 30*time.Second); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w (server logs in %s)", err, dir)
	}
	return c, nil
}

// NewClient connects to endpoints with etcd's Go client, quiet.
func NewEtcdClient(ctx context.Context, endpoints ...string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: 5 * time.Second, Context: ctx, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client %v: %w", endpoints, err)
	}
	return cli, nil
}

func (c *EtcdCluster) waitReady(ctx context.Context, d time.Duration) error {
	cli, err := NewEtcdClient(ctx, c.Endpoints...)
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		for i, p := range c.done {
			select {
			case <-p:
				return fmt.Errorf("etcd: member %d exited while starting", i)
			default:
			}
		}
		ready, leader := 0, ""
		for _, ep := range c.Endpoints {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := cli.Status(sctx, ep)
			cancel()
			if err != nil {
				last = err
				continue
			}
			if st.Leader != 0 {
				ready++
			}
			if st.Leader != 0 && st.Leader == st.Header.GetMemberId() {
				leader = ep
			}
		}
		if ready == len(c.Endpoints) && leader != "" {
			c.Leader = leader
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("etcd: cluster not ready after %v (last: %v)", d, last)
}

// Close stops the servers (SIGTERM, then SIGKILL after 10 s) and waits for them.
func (c *EtcdCluster) Close() {
	for _, p := range c.procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	for i, done := range c.done {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.procs[i].Process.Kill()
			<-done
		}
	}
}

// freePorts reserves n loopback ports and releases them for the servers.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writePeerCerts makes a CA and one certificate for 127.0.0.1 (server and
// client use) signed by it, and writes them into dir.
func writePeerCerts(dir string) (cert, key, ca string, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "icn bench peers CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", "", fmt.Errorf("etcd certs: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", "", "", fmt.Errorf("etcd certs: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "etcd peer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
	if err != nil {
		return "", "", "", fmt.Errorf("etcd certs: %w", err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return "", "", "", err
	}
	cert, key, ca = filepath.Join(dir, "peer.crt"), filepath.Join(dir, "peer.key"), filepath.Join(dir, "ca.crt")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{cert, "CERTIFICATE", der}, {key, "EC PRIVATE KEY", kb}, {ca, "CERTIFICATE", caDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return "", "", "", fmt.Errorf("etcd certs: %w", err)
		}
	}
	return cert, key, ca, nil
}

// EtcdTransfers is the hub's transfer workload built on etcd the way an
// engineer would: one key per participant holding its position and cap
// (pos/NNNN: sent, received, reserved, cap as four int64s), one key per
// transfer (xfer/ID: state, from, to, amount), and each step one
// optimistic transaction (compare the mod revisions of the keys it read,
// then write; on a conflict the Else branch returns the current values and
// the step retries), so one round trip per attempt. Positions last read
// are cached for all clients of the process, so the first attempt
// usually uses current values.
//
// With KeyLocks the clients of this process also take a lock per position
// key around each transaction (both keys of a commit, in index order), so
// they do not race one another into conflicts: with many clients on few
// co-ops, optimistic retries alone collapse (tens of retries per command).
// The comparisons stay, for writers in other processes.
type EtcdTransfers struct {
	clis    []*clientv3.Client
	next    atomic.Uint64
	prefix  string
	n       int
	mu      sync.Mutex
	cache   []cachedPos
	locks   []sync.Mutex // per participant, with KeyLocks
	keyLock bool
	retries atomic.Int64
}

// EtcdOptions tune EtcdTransfers.
type EtcdOptions struct {
	KeyLocks bool // serialize this process's transactions per position key
}

type cachedPos struct {
	p   Position
	rev int64
}

const (
	xferPrepared  = 'P'
	xferCommitted = 'C'
	xferRejected  = 'R'
)

// NewEtcdTransfers creates participants positions at zero with cap each,
// under a fresh prefix, and uses clis round robin (one gRPC connection each).
func NewEtcdTransfers(ctx context.Context, clis []*clientv3.Client, participants int, cap int64, o EtcdOptions) (*EtcdTransfers, error) {
	if len(clis) == 0 || participants < 2 {
		return nil, errors.New("etcd transfers: need a client and at least 2 participants")
	}
	s := &EtcdTransfers{clis: clis, prefix: fmt.Sprintf("icnbench/%d/", time.Now().UnixNano()), n: participants,
		cache: make([]cachedPos, participants), locks: make([]sync.Mutex, participants), keyLock: o.KeyLocks}
	for i := range participants {
		p := Position{Cap: cap}
		resp, err := clis[0].Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(s.posKey(i)), "=", 0)).
			Then(clientv3.OpPut(s.posKey(i), string(encodePos(p)))).Commit()
		if err != nil {
			return nil, fmt.Errorf("etcd transfers: create participant %d: %w", i, err)
		}
		if !resp.Succeeded {
			return nil, fmt.Errorf("etcd transfers: participant %d exists already", i)
		}
		s.cache[i] = cachedPos{p, resp.Header.Revision}
	}
	return s, nil
}

// Retries is how many optimistic transactions failed their comparison and
// were retried.
func (s *EtcdTransfers) Retries() int64 { return s.retries.Load() }

func (s *EtcdTransfers) kv() *clientv3.Client {
	return s.clis[s.next.Add(1)%uint64(len(s.clis))]
}

func (s *EtcdTransfers) posKey(i int) string      { return fmt.Sprintf("%spos/%04d", s.prefix, i) }
func (s *EtcdTransfers) xferKey(id string) string { return s.prefix + "xfer/" + id }

func encodePos(p Position) []byte {
	b := make([]byte, 32)
	for i, v := range []int64{p.Sent, p.Received, p.Reserved, p.Cap} {
		binary.BigEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}

func decodePos(b []byte) (Position, error) {
	if len(b) != 32 {
		return Position{}, fmt.Errorf("position of %d bytes", len(b))
	}
	v := func(i int) int64 { return int64(binary.BigEndian.Uint64(b[8*i:])) }
	return Position{Sent: v(0), Received: v(1), Reserved: v(2), Cap: v(3)}, nil
}

func encodeXfer(state byte, t Transfer) string {
	b := make([]byte, 1, 25)
	b[0] = state
	b = binary.BigEndian.AppendUint64(b, uint64(t.From))
	b = binary.BigEndian.AppendUint64(b, uint64(t.To))
	b = binary.BigEndian.AppendUint64(b, uint64(t.Amount))
	return string(b)
}

func decodeXfer(b []byte) (state byte, t Transfer, err error) {
	if len(b) != 25 {
		return 0, Transfer{}, fmt.Errorf("transfer record of %d bytes", len(b))
	}
	v := func(i int) int64 { return int64(binary.BigEndian.Uint64(b[1+8*i:])) }
	return b[0], Transfer{From: int(v(0)), To: int(v(1)), Amount: v(2)}, nil
}

func (s *EtcdTransfers) cached(i int) cachedPos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache[i]
}

// learn caches a position read or written at rev, if newer than the cache's.
func (s *EtcdTransfers) learn(i int, p Position, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev > s.cache[i].rev {
		s.cache[i] = cachedPos{p, rev}
	}
}

// learnKV caches the position in a Get response of the Else branch.
func (s *EtcdTransfers) learnKV(i int, r *clientv3.GetResponse) error {
	if len(r.Kvs) != 1 {
		return fmt.Errorf("participant %d: no position", i)
	}
	p, err := decodePos(r.Kvs[0].Value)
	if err != nil {
		return fmt.Errorf("participant %d: %w", i, err)
	}
	s.learn(i, p, r.Kvs[0].ModRevision)
	return nil
}

func (s *EtcdTransfers) check(t Transfer) error {
	if t.From < 0 || t.From >= s.n || t.To < 0 || t.To >= s.n || t.From == t.To || t.Amount <= 0 {
		return fmt.Errorf("invalid transfer %+v", t)
	}
	return nil
}

// Prepare is one transaction: if the sender's position is still the one
// read and the transfer id is new, reserve the amount (or, over the cap,
// record the rejection).
func (s *EtcdTransfers) Prepare(ctx context.Context, t Transfer) error {
	if err := s.check(t); err != nil {
		return err
	}
	pk, xk := s.posKey(t.From), s.xferKey(t.ID)
	if s.keyLock {
		s.locks[t.From].Lock()
		defer s.locks[t.From].Unlock()
	}
	for {
		c := s.cached(t.From)
		p := c.p
		state := byte(xferPrepared)
		if p.Sent-p.Received+p.Reserved+t.Amount > p.Cap {
			state = xferRejected
		}
		then := []clientv3.Op{clientv3.OpPut(xk, encodeXfer(state, t))}
		if state == xferPrepared {
			p.Reserved += t.Amount
			then = append(then, clientv3.OpPut(pk, string(encodePos(p))))
		}
		resp, err := s.kv().Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(pk), "=", c.rev), clientv3.Compare(clientv3.CreateRevision(xk), "=", 0)).
			Then(then...).
			Else(clientv3.OpGet(pk), clientv3.OpGet(xk)).Commit()
		if err != nil {
			return fmt.Errorf("etcd prepare %s: %w", t.ID, err)
		}
		if resp.Succeeded {
			if state == xferRejected {
				return ErrCapExceeded
			}
			s.learn(t.From, p, resp.Header.Revision)
			return nil
		}
		if err := s.learnKV(t.From, (*clientv3.GetResponse)(resp.Responses[0].GetResponseRange())); err != nil {
			return fmt.Errorf("etcd prepare %s: %w", t.ID, err)
		}
		if x := resp.Responses[1].GetResponseRange(); len(x.Kvs) > 0 {
			// A repeat of a known id: its first outcome.
			if len(x.Kvs[0].Value) > 0 && x.Kvs[0].Value[0] == xferRejected {
				return ErrCapExceeded
			}
			return nil
		}
		s.retries.Add(1)
	}
}

// Commit is one transaction: if both positions are still the ones read and
// the transfer is prepared, move the positions and mark it committed.
func (s *EtcdTransfers) Commit(ctx context.Context, t Transfer) error {
	if err := s.check(t); err != nil {
		return err
	}
	fk, tk, xk := s.posKey(t.From), s.posKey(t.To), s.xferKey(t.ID)
	prepared := encodeXfer(xferPrepared, t)
	if s.keyLock {
		a, b := min(t.From, t.To), max(t.From, t.To)
		s.locks[a].Lock()
		defer s.locks[a].Unlock()
		s.locks[b].Lock()
		defer s.locks[b].Unlock()
	}
	for {
		cf, ct := s.cached(t.From), s.cached(t.To)
		fp, tp := cf.p, ct.p
		if fp.Reserved < t.Amount {
			// The cache may be behind this transfer's own prepare only if
			// another client's older read overwrote it: not possible, as
			// learn keeps the newest; so this is a broken store.
			return fmt.Errorf("etcd commit %s: sender reserved %d, less than the amount %d", t.ID, fp.Reserved, t.Amount)
		}
		fp.Reserved -= t.Amount
		fp.Sent += t.Amount
		tp.Received += t.Amount
		resp, err := s.kv().Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(fk), "=", cf.rev), clientv3.Compare(clientv3.ModRevision(tk), "=", ct.rev),
				clientv3.Compare(clientv3.Value(xk), "=", prepared)).
			Then(clientv3.OpPut(fk, string(encodePos(fp))), clientv3.OpPut(tk, string(encodePos(tp))),
				clientv3.OpPut(xk, encodeXfer(xferCommitted, t))).
			Else(clientv3.OpGet(fk), clientv3.OpGet(tk), clientv3.OpGet(xk)).Commit()
		if err != nil {
			return fmt.Errorf("etcd commit %s: %w", t.ID, err)
		}
		if resp.Succeeded {
			s.learn(t.From, fp, resp.Header.Revision)
			s.learn(t.To, tp, resp.Header.Revision)
			return nil
		}
		if err := s.learnKV(t.From, (*clientv3.GetResponse)(resp.Responses[0].GetResponseRange())); err != nil {
			return fmt.Errorf("etcd commit %s: %w", t.ID, err)
		}
		if err := s.learnKV(t.To, (*clientv3.GetResponse)(resp.Responses[1].GetResponseRange())); err != nil {
			return fmt.Errorf("etcd commit %s: %w", t.ID, err)
		}
		x := resp.Responses[2].GetResponseRange()
		switch {
		case len(x.Kvs) == 0:
			return fmt.Errorf("etcd commit %s: no such transfer", t.ID)
		case string(x.Kvs[0].Value) == encodeXfer(xferCommitted, t):
			return nil // committed already
		case string(x.Kvs[0].Value) != prepared:
			return fmt.Errorf("etcd commit %s: transfer is not prepared", t.ID)
		}
		s.retries.Add(1)
	}
}

// Book reads every position and transfer record at one revision, a page
// at a time. (A transaction whose client gave up at the end of the run may
// still be applied after it: one revision keeps the reads consistent.)
func (s *EtcdTransfers) Book(ctx context.Context) (Book, error) {
	b := Book{Positions: make([]Position, s.n), Prepared: map[int]int64{}}
	seen := 0
	rev, err := s.scan(ctx, s.prefix+"pos/", 0, func(k, v []byte) error {
		var i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(string(k), s.prefix+"pos/"), "%d", &i); err != nil || i < 0 || i >= s.n {
			return fmt.Errorf("position key %q", k)
		}
		p, err := decodePos(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		b.Positions[i] = p
		seen++
		return nil
	})
	if err != nil {
		return Book{}, err
	}
	if seen != s.n {
		return Book{}, fmt.Errorf("etcd book: %d positions, want %d", seen, s.n)
	}
	_, err = s.scan(ctx, s.prefix+"xfer/", rev, func(k, v []byte) error {
		state, t, err := decodeXfer(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		switch state {
		case xferPrepared:
			b.Prepared[t.From] += t.Amount
		case xferCommitted:
			b.Committed++
			b.CommittedUnits += t.Amount
		case xferRejected:
		default:
			return fmt.Errorf("%s: state %q", k, state)
		}
		return nil
	})
	if err != nil {
		return Book{}, err
	}
	return b, nil
}

// scan calls fn for every key under prefix at revision rev (0: the
// current one), in pages, and returns the revision it read.
func (s *EtcdTransfers) scan(ctx context.Context, prefix string, rev int64, fn func(k, v []byte) error) (int64, error) {
	cli := s.clis[0]
	end := clientv3.GetPrefixRangeEnd(prefix)
	key := prefix
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(10000)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := cli.Get(ctx, key, opts...)
		if err != nil {
			return 0, fmt.Errorf("etcd book: %w", err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv.Key, kv.Value); err != nil {
				return 0, fmt.Errorf("etcd book: %w", err)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
