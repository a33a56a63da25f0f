package hub

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// backupChunk is the size of the messages a backup streams in.
const backupChunk = 256 << 10

// backupService streams Node.Backup to operators (icn hub backup). It is a
// streaming call, which the unary interceptors do not see, so it checks its
// caller itself.
type backupService struct {
	icnv1.UnimplementedBackupServiceServer
	s *Server
}

func registerBackupService(s *Server) {
	icnv1.RegisterBackupServiceServer(s.grpc, &backupService{s: s})
}

func (b *backupService) Backup(_ *icnv1.BackupRequest, stream grpc.ServerStreamingServer[icnv1.BackupChunk]) error {
	did, err := callerDID(stream.Context())
	if err != nil {
		return status.Error(codes.Unauthenticated, "present a client certificate over your operator key (icn keygen)")
	}
	if b.s.roleOf(did) != roleOperator {
		return status.Errorf(codes.PermissionDenied, "%s is not an operator of this federation: only operators take backups", did)
	}
	w := &chunkWriter{stream: stream, buf: make([]byte, 0, backupChunk)}
	info, err := b.s.n.Backup(w)
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		if stream.Context().Err() != nil {
			return status.FromContextError(stream.Context().Err()).Err()
		}
		return status.Errorf(codes.Internal, "backup: %v", err)
	}
	b.s.log.Info("backup streamed", "operator", did, "index", info.Index, "state_hash", info.StateHash)
	return nil
}

// chunkWriter sends what is written as BackupChunks of up to backupChunk bytes.
type chunkWriter struct {
	stream grpc.ServerStreamingServer[icnv1.BackupChunk]
	buf    []byte
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), backupChunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == backupChunk {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.stream.Send(&icnv1.BackupChunk{Data: w.buf})
	w.buf = make([]byte, 0, backupChunk) // Send may keep the slice until written
	return err
}
