// Command icn is the one binary of the ICN federation: co-op nodes, dev
// federations, keys, wallets and benchmarks.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// defaultGCPercent trades memory for CPU: a node's live heap is small (tens of
// MB), and at the Go default of 100 the collector took ~15 % of CPU under
// payment load; 400 raised icn bench coop from 2.8k to 3.5k payments/s
// (docs/BENCHMARKS.md). The GOGC environment variable still wins.
const defaultGCPercent = 400

// procsPerCPU: nodes spend much of their time in blocking syscalls (fsync of
// the ledgers and raft logs, UDP for QUIC). A goroutine in a syscall keeps
// its P until the runtime's monitor takes it back, which can take
// milliseconds, so with one P per core the cores idle while work waits.
// Twice as many Ps as the runtime's default lifted icn bench cross from
// ≈ 410 to ≈ 690–800 payments/s on 2 cores; icn bench coop and icn bench hub
// show no reliable change (docs/BENCHMARKS.md). The GOMAXPROCS environment
// variable still wins.
const procsPerCPU = 2

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(procsPerCPU * runtime.GOMAXPROCS(0))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "icn:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "icn",
		Short:         "ICN federation hub: co-op nodes, hub clusters and their tools",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(argLooksLikeFlag)
	root.AddCommand(newCoopCmd(), newDevCmd(), newDirectoryCmd(), newKeygenCmd(), newWalletCmd(), newBenchCmd(), newHubCmd(), newCertCmd(), newHealthCmd(), newConfigCmd())
	addOperatorCommands(root)
	return root
}

// argLooksLikeFlag says how to pass an argument that starts with '-' (an
// id such as -3Iw… that pflag read as a group of shorthand flags).
func argLooksLikeFlag(_ *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if errors.As(err, &ne) && ne.GetSpecifiedShortnames() != "" {
		return fmt.Errorf("%w (if -%s is an argument, put it after --: icn wallet approve -- -%s)", err, ne.GetSpecifiedShortnames(), ne.GetSpecifiedShortnames())
	}
	return err
}

// newLogger returns a logger at level ("debug", "info", "warn", "error") in
// format ("text" or "json") on stderr.
func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if level == "" {
		level = "info"
	}
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}
