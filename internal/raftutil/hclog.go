package raftutil

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter is an hclog.Logger (what raft logs to) that writes to slog:
// raft's levels become slog levels and its key/value pairs slog attributes,
// instead of one Warn line holding hclog's own formatted text.
type hclogAdapter struct {
	base *slog.Logger // with the component
	l    *slog.Logger // base with the logger's name
	name string
	args []any
	min  hclog.Level
}

// NewHclog returns an hclog.Logger for raft's parts that writes to l, named
// name (e.g. "raft") and dropping lines below min. Raft's Info lines
// (elections, snapshots, membership changes) are what an operator wants to
// see; its Debug and Trace lines rarely are.
func NewHclog(l *slog.Logger, name string, min hclog.Level) hclog.Logger {
	base := l.With("component", "raft")
	return &hclogAdapter{base: base, l: base.With("logger", name), name: name, min: min}
}

// slogLevel maps an hclog level to slog's; Trace sits below Debug.
func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	return level >= a.min && a.l.Enabled(context.Background(), slogLevel(level))
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.NoLevel || level == hclog.Off || !a.enabled(level) {
		return
	}
	a.l.Log(context.Background(), slogLevel(level), msg, append(a.args[:len(a.args):len(a.args)], args...)...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }
func (a *hclogAdapter) IsTrace() bool                 { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool                 { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool                  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool                  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool                 { return a.enabled(hclog.Error) }
func (a *hclogAdapter) ImpliedArgs() []any            { return a.args }
func (a *hclogAdapter) Name() string                  { return a.name }
func (a *hclogAdapter) SetLevel(level hclog.Level)    {} // the slog handler decides
func (a *hclogAdapter) GetLevel() hclog.Level         { return a.min }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	b := *a
	b.args = append(a.args[:len(a.args):len(a.args)], args...)
	return &b
}

func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	b := *a
	b.name, b.l = name, a.base.With("logger", name)
	return &b
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return slog.NewLogLogger(a.l.Handler(), slog.LevelInfo).Writer()
}
