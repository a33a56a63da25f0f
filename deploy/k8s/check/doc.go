// Package check validates the Kubernetes manifests of deploy/k8s offline:
// every object decodes strictly into the Kubernetes API's own Go types
// (k8s.io/api: an unknown or misspelt field, or a value of the wrong type,
// fails), and the objects fit together — selectors match the pod labels,
// probes ask /readyz on a declared port, volumes and ConfigMaps exist, the
// disruption budget keeps the hub cluster's quorum, and every icn
// configuration in a ConfigMap loads with the icn binary's own loaders.
//
// It is its own module so that the project's module does not depend on
// the Kubernetes API packages: run it with `make deploy-check` (or
// `cd deploy/k8s/check && go test ./...`).
package check
