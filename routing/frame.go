package routing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// DefaultMaxFrameSize bounds one framed message (the protobuf bytes, not
// counting the 4-byte length) unless Options.MaxFrameSize says otherwise.
const DefaultMaxFrameSize = 1 << 20

// frameHeaderLen is the length prefix: the message size as a 4-byte
// big-endian unsigned integer. A fixed prefix needs no buffered reader, so
// ReadMsg never consumes bytes beyond its frame.
const frameHeaderLen = 4

// Framing errors; test with errors.Is. A clean end of stream before the
// first byte of a frame is io.EOF, unwrapped.
var (
	// ErrFrameTooLarge: a frame's declared or actual size exceeds the limit.
	ErrFrameTooLarge = errors.New("routing: frame too large")
	// ErrTruncated: the stream ended inside a frame. It wraps
	// io.ErrUnexpectedEOF as well.
	ErrTruncated = errors.New("routing: truncated frame")
	// ErrMalformed: the frame's bytes are not a valid message.
	ErrMalformed = errors.New("routing: malformed message")
)

// WriteMsg writes m to w as one frame of at most DefaultMaxFrameSize bytes.
func WriteMsg(w io.Writer, m proto.Message) error {
	return WriteMsgMax(w, m, DefaultMaxFrameSize)
}

// ReadMsg reads one frame of at most DefaultMaxFrameSize bytes from r into m.
func ReadMsg(r io.Reader, m proto.Message) error {
	return ReadMsgMax(r, m, DefaultMaxFrameSize)
}

// WriteMsgMax writes m as one frame (4-byte big-endian length, then the
// protobuf bytes) in a single Write, refusing a message larger than limit
// bytes (limit <= 0 means DefaultMaxFrameSize).
func WriteMsgMax(w io.Writer, m proto.Message, limit int) error {
	limit = frameLimit(limit)
	size := proto.Size(m)
	if size > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, size, limit)
	}
	buf := make([]byte, frameHeaderLen, frameHeaderLen+size)
	buf, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf, m)
	if err != nil {
		return fmt.Errorf("routing: marshal %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	n := len(buf) - frameHeaderLen
	if n > limit { // cannot happen after the size check, but never send what the peer must refuse
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	binary.BigEndian.PutUint32(buf, uint32(n))
	_, err = w.Write(buf)
	return err
}

// ReadMsgMax reads one frame from r into m (which it resets first). A frame
// that declares more than limit bytes (limit <= 0 means DefaultMaxFrameSize) is
// refused before its body is read.
func ReadMsgMax(r io.Reader, m proto.Message, limit int) error {
	limit = frameLimit(limit)
	var hdr [frameHeaderLen]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF && n == 0 {
			return io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return fmt.Errorf("%w: %d of %d length bytes: %w", ErrTruncated, n, frameHeaderLen, io.ErrUnexpectedEOF)
		}
		return err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if uint64(size) > uint64(limit) {
		return fmt.Errorf("%w: %d bytes declared, limit %d", ErrFrameTooLarge, size, limit)
	}
	body, err := readBody(r, int(size))
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// eagerBody is the largest body allocated before its bytes arrive; larger
// bodies grow as they are read, so a peer cannot make us allocate the
// maximum frame size per stream by sending nothing but a length.
const eagerBody = 64 << 10

func readBody(r io.Reader, size int) ([]byte, error) {
	var (
		body []byte
		n    int
		err  error
	)
	if size <= eagerBody {
		body = make([]byte, size)
		n, err = io.ReadFull(r, body)
	} else {
		var buf bytes.Buffer
		buf.Grow(eagerBody)
		var n64 int64
		n64, err = io.CopyN(&buf, r, int64(size))
		n, body = int(n64), buf.Bytes()
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("%w: %d of %d body bytes: %w", ErrTruncated, n, size, io.ErrUnexpectedEOF)
	}
	return body, err
}

func frameLimit(limit int) int {
	if limit <= 0 {
		return DefaultMaxFrameSize
	}
	return min(limit, 1<<31-1) // the header holds a uint32; stay in int range everywhere
}
