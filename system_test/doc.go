// Package systest starts real icn processes on 127.0.0.1 and kills,
// restarts and queries them, as operators would. Tests build the binary
// once (TestMain) and skip with -short.
package systest
