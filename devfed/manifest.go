// Package devfed runs a whole local federation in one process for `icn dev`,
// `icn bench` and end-to-end tests, and describes it in a dev.json manifest.
package devfed

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/icn-coop/icn/identity"
)

// ManifestFile is the name of the manifest inside a dev data directory.
const ManifestFile = "dev.json"

// Manifest is dev.json: what a script needs to drive a running dev federation.
type Manifest struct {
	Currency string         `json:"currency"`
	Coops    []ManifestCoop `json:"coops"`
	// Hub is the co-ops' hub cluster (region-1's in a two-region dev).
	Hub *ManifestHub `json:"hub,omitempty"`
	// Hubs lists every hub cluster: the one above, or region-1, region-2
	// and their parent.
	Hubs []*ManifestHub `json:"hubs,omitempty"`
}

// ManifestCoop describes one co-op node.
type ManifestCoop struct {
	ID         string       `json:"id"`
	DID        identity.DID `json:"did"`
	GatewayURL string       `json:"gateway_url"`
	// Gateways are every gateway of a replicated co-op (GatewayURL is its
	// leader's at start); omitted for a single node.
	Gateways   []string         `json:"gateways,omitempty"`
	Federation identity.DID     `json:"federation,omitempty"` // the hub cluster it peers with
	Admin      ManifestMember   `json:"admin"`
	Members    []ManifestMember `json:"members"`
}

// ManifestMember is a member (or the admin) with the path of its key file.
type ManifestMember struct {
	Name    string       `json:"name"`
	DID     identity.DID `json:"did"`
	KeyFile string       `json:"key_file"`
}

// LoadManifest reads dev.json from path (a file or the data directory holding it).
func LoadManifest(path string) (*Manifest, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = path + string(os.PathSeparator) + ManifestFile
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load dev manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("load dev manifest %s: %w", path, err)
	}
	return &m, nil
}

// Write stores m as dev.json in dir, mode 0600 (it names key files).
func (m *Manifest) Write(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(dir+string(os.PathSeparator)+ManifestFile, append(b, '\n'), 0o600)
}
