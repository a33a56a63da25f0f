package gateway

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/icn-coop/icn/coopnode/hubpeer"
)

// Statements is where the co-op's settlement statements come from: the
// hub peer fetches them from the hub cluster (nil: the node peers with no
// hub, and has none).
type Statements interface {
	Statements() ([]hubpeer.Statement, error)
	Statement(period uint64) (hubpeer.Statement, error)
}

func (g *Gateway) getStatements(w http.ResponseWriter, _ *http.Request, _ *caller) error {
	out := []hubpeer.Statement{}
	if g.cfg.Statements != nil {
		sts, err := g.cfg.Statements.Statements()
		if err != nil {
			return err
		}
		out = append(out, sts...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"statements": out})
	return nil
}

func (g *Gateway) getStatement(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := strconv.ParseUint(r.PathValue("period"), 10, 64)
	if err != nil || p == 0 {
		return errf(http.StatusBadRequest, "invalid_period", "period must be a period number (1, 2, …)")
	}
	if g.cfg.Statements == nil {
		return errf(http.StatusNotFound, "not_found", "this co-op node peers with no hub cluster, so it has no settlement statements")
	}
	st, err := g.cfg.Statements.Statement(p)
	if errors.Is(err, hubpeer.ErrNoStatement) {
		return errf(http.StatusNotFound, "not_found", "no statement for period %d yet: it is open, or its report is not final", p)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
