package gateway

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// backupWriteTimeout bounds sending a backup: longer than the server's
// write timeout, which a large ledger over a slow link would exceed. The
// copy is already on local disk by then, so a slow reader holds no
// transaction open.
const backupWriteTimeout = time.Hour

// getBackup streams a consistent copy of the ledger file (moderators):
// GET /backup/{coop}.
func (g *Gateway) getBackup(w http.ResponseWriter, r *http.Request, c *caller) error {
	f, info, err := g.cfg.Ledger.BackupFile()
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	h.Set("Content-Disposition", `attachment; filename="ledger.db"`)
	h.Set("Cache-Control", "no-store")
	h.Set("Icn-Ledger-Seq", strconv.FormatUint(info.Seq, 10))
	h.Set("Icn-Ledger-Head", info.Head)
	h.Set("Icn-State-Hash", info.StateHash)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(backupWriteTimeout))
	w.WriteHeader(http.StatusOK)
	if n, err := io.Copy(w, f); err != nil {
		// The status is sent: the client sees a short body (Content-Length).
		g.cfg.Logger.Warn("backup not sent whole", "by", c.DID, "sent", n, "size", info.Size, "err", err)
		return nil
	}
	g.cfg.Logger.Info("backup sent", "by", c.DID, "ledger_seq", info.Seq, "state_hash", info.StateHash, "size", info.Size)
	return nil
}
