// Package dataplane is a hub node's end of the data plane: co-op nodes and
// other federations' hubs connect to it over QUIC (package routing), and on
// the leader it checks their signed prepares, proposes them to the cluster,
// delivers them to the receiving co-op or the next hub, and commits or
// aborts on the signed answer; it also answers outcome and statement
// queries, takes child federations' route announcements, and gates every
// participant by its trust class. It needs of the node only Cluster.
package dataplane
