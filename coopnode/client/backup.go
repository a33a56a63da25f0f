package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// BackupInfo is what the node says of a backup it sends (its headers).
type BackupInfo struct {
	LedgerSeq  uint64
	LedgerHead string
	StateHash  string
	Size       int64
}

// Backup downloads a consistent copy of the co-op node's ledger file into w
// (GET /backup/{coop}, moderators). Only ctx bounds it: a large ledger takes
// longer than the client's request timeout. A copy shorter than the node
// announced is an error.
func (s *Session) Backup(ctx context.Context, coop string, w io.Writer) (*BackupInfo, error) {
	c := s.c
	path := "/backup/" + seg(coop)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+s.Token())
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		return nil, decodeError(resp, data, c.now())
	}
	info := &BackupInfo{LedgerHead: resp.Header.Get("Icn-Ledger-Head"), StateHash: resp.Header.Get("Icn-State-Hash"), Size: resp.ContentLength}
	if info.LedgerSeq, err = strconv.ParseUint(resp.Header.Get("Icn-Ledger-Seq"), 10, 64); err != nil || info.StateHash == "" || info.Size < 0 {
		return nil, fmt.Errorf("GET %s: the answer lacks Icn-Ledger-Seq, Icn-State-Hash or Content-Length: is this a co-op node?", path)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: after %d of %d bytes: %w", path, n, info.Size, err)
	}
	if n != info.Size {
		return nil, fmt.Errorf("GET %s: %d of %d bytes", path, n, info.Size)
	}
	return info, nil
}
