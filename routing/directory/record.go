package directory

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// Keys of the directory: the DHT namespace "icn", co-ops under /icn/coop/
// by DID and by registered name; a federation's place under each of its
// parents under /icn/fed/<federation>/<parent> (one record per parent, so
// that a federation with two parents keeps both).
const (
	Namespace  = "icn"
	coopPrefix = "/" + Namespace + "/coop/"
	fedPrefix  = "/" + Namespace + "/fed/"
)

// Limits on what a record may hold.
const (
	MaxPath        = 16
	MaxRecordBytes = 16 << 10
	maxNameLen     = 128
)

// ErrRecord marks a record the directory refuses; the message says why.
var ErrRecord = errors.New("directory: invalid record")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRecord}, args...)...)
}

// CoopKey is the key of a co-op's record: by its DID or by its name.
func CoopKey(didOrName string) string { return coopPrefix + didOrName }

// FederationKey is the key of the record parent publishes of federation d
// (d's place under parent).
func FederationKey(d, parent identity.DID) string {
	return fedPrefix + string(d) + "/" + string(parent)
}

// Link is a federation's signed admission of a member (a co-op or a child
// federation) as one of its participants.
type Link struct {
	Federation identity.DID
	Member     identity.DID
	MemberName string
	Seq        uint64
	Expires    time.Time
}

// Record says where a subject sits: Path[0] is the link of the federation
// that admitted it; every further link admits the federation of an earlier
// one, up to a root. A federation with two parents has two links.
type Record struct {
	Subject     identity.DID
	SubjectName string
	Federation  bool // the subject is a federation
	Path        []Link
	Seq         uint64
	Expires     time.Time

	signedPath []*icnv1.SignedDirectoryLink // as received, to be carried on
}

// Admitter is the federation that admitted the subject (Path[0]).
func (r Record) Admitter() identity.DID { return r.Path[0].Federation }

// Federations lists every federation on the record's path, in path order,
// each once.
func (r Record) Federations() []identity.DID {
	var out []identity.DID
	for _, l := range r.Path {
		if !slices.Contains(out, l.Federation) {
			out = append(out, l.Federation)
		}
	}
	return out
}

// ChildOf returns the member that federation f admitted on the way to the
// subject: the hop below f towards it.
func (r Record) ChildOf(f identity.DID) (identity.DID, bool) {
	for _, l := range r.Path {
		if l.Federation == f {
			return l.Member, true
		}
	}
	return "", false
}

// Route is the next hop from federation self towards the record's subject,
// which self does not serve itself: down to the member self admitted on
// the path when isChild says it is one of self's child federations, else up
// to a parent of self on the path (a common ancestor), the one rank puts
// highest (ties: the order of parents). The hop the payment came from is
// never the answer. It reports false when the path offers neither.
func (r Record) Route(self, from identity.DID, parents []identity.DID, isChild func(identity.DID) bool, rank func(identity.DID) int) (identity.DID, bool) {
	if child, ok := r.ChildOf(self); ok && child != from && isChild(child) {
		return child, true
	}
	feds := r.Federations()
	var best identity.DID
	bestRank := 0
	for _, p := range parents {
		if p == from || !slices.Contains(feds, p) {
			continue
		}
		if k := rank(p); best == "" || k > bestRank {
			best, bestRank = p, k
		}
	}
	return best, best != ""
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// SignLink signs fed's admission of l.Member; fed must be l.Federation.
func SignLink(fed *identity.Key, l Link) (*icnv1.SignedDirectoryLink, error) {
	if fed.DID() != l.Federation {
		return nil, fmt.Errorf("sign directory link: key %s is not the federation %s", fed.DID(), l.Federation)
	}
	b, err := deterministic.Marshal(&icnv1.DirectoryLink{Federation: string(l.Federation), Member: string(l.Member),
		MemberName: l.MemberName, Seq: l.Seq, ExpiresAtUnixNano: l.Expires.UnixNano()})
	if err != nil {
		return nil, err
	}
	return &icnv1.SignedDirectoryLink{Link: b, Signature: fed.Sign(identity.TagDirectoryLink, b)}, nil
}

// Sign makes the value of a record: own is the publishing federation's
// (fed's) signed admission of the subject, above are the signed links of the
// federations above fed (the path of fed's own record, nil for a root).
func Sign(fed *identity.Key, subjectName string, isFed bool, own *icnv1.SignedDirectoryLink,
	above []*icnv1.SignedDirectoryLink, seq uint64, expires time.Time) ([]byte, error) {
	var l icnv1.DirectoryLink
	if err := proto.Unmarshal(own.GetLink(), &l); err != nil || l.GetFederation() != string(fed.DID()) {
		return nil, fmt.Errorf("sign directory record: the first link must be %s's own", fed.DID())
	}
	rec := &icnv1.DirectoryRecord{Subject: l.GetMember(), SubjectName: subjectName, Federation: isFed,
		Path: append([]*icnv1.SignedDirectoryLink{own}, above...), Seq: seq, ExpiresAtUnixNano: expires.UnixNano()}
	b, err := deterministic.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return deterministic.Marshal(&icnv1.SignedDirectoryRecord{Record: b, Signature: fed.Sign(identity.TagDirectoryRecord, b)})
}

// strictUnmarshal decodes b into m and requires b to be m's deterministic
// encoding, so that signed bytes have one meaning: no unknown fields, no
// repeated scalar fields, no other field order.
func strictUnmarshal(b []byte, m proto.Message, what string) error {
	if err := proto.Unmarshal(b, m); err != nil {
		return refuse("%s: %v", what, err)
	}
	if hasUnknown(m.ProtoReflect()) {
		return refuse("%s holds fields this version does not know", what)
	}
	if again, err := deterministic.Marshal(m); err != nil || !bytes.Equal(again, b) {
		return refuse("%s is not in canonical form", what)
	}
	return nil
}

// hasUnknown reports whether m or a message inside it holds unknown fields.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len() && !found; i++ {
				found = hasUnknown(v.List().Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}

// Decode parses a record's value strictly and checks it at now: every
// signature, the path's shape (each link admits the subject or the
// federation of an earlier link), and that neither the record nor any link
// has expired. It does not check where the record is stored (Validator
// does) nor whom the path reaches.
func Decode(value []byte, now time.Time) (Record, error) {
	if len(value) > MaxRecordBytes {
		return Record{}, refuse("%d bytes, more than %d", len(value), MaxRecordBytes)
	}
	var sr icnv1.SignedDirectoryRecord
	if err := strictUnmarshal(value, &sr, "record"); err != nil {
		return Record{}, err
	}
	var pr icnv1.DirectoryRecord
	if err := strictUnmarshal(sr.GetRecord(), &pr, "record body"); err != nil {
		return Record{}, err
	}
	subject, _, err := identity.ParseDID(pr.GetSubject())
	if err != nil {
		return Record{}, refuse("subject: %v", err)
	}
	if n := len(pr.GetPath()); n == 0 || n > MaxPath {
		return Record{}, refuse("a path of %d links (1..%d)", n, MaxPath)
	}
	r := Record{Subject: subject, SubjectName: pr.GetSubjectName(), Federation: pr.GetFederation(),
		Seq: pr.GetSeq(), Expires: time.Unix(0, pr.GetExpiresAtUnixNano()), signedPath: pr.GetPath()}
	if len(r.SubjectName) > maxNameLen || strings.Contains(r.SubjectName, "/") {
		return Record{}, refuse("subject name %.40q", r.SubjectName)
	}
	if !now.Before(r.Expires) {
		return Record{}, refuse("expired at %s", r.Expires.UTC().Format(time.RFC3339))
	}
	for i, sl := range pr.GetPath() {
		l, err := decodeLink(sl, i)
		if err != nil {
			return Record{}, err
		}
		if !now.Before(l.Expires) {
			return Record{}, refuse("link %d (%s admits %s) expired", i, l.Federation.Short(), l.Member.Short())
		}
		switch {
		case i == 0 && (l.Member != subject || l.MemberName != r.SubjectName):
			return Record{}, refuse("the first link admits %s (%q), not the subject", l.Member.Short(), l.MemberName)
		case i > 0 && !slices.ContainsFunc(r.Path, func(p Link) bool { return p.Federation == l.Member }):
			return Record{}, refuse("link %d admits %s, which no earlier link's federation is", i, l.Member.Short())
		case slices.ContainsFunc(r.Path, func(p Link) bool { return p.Federation == l.Federation && p.Member == l.Member }):
			return Record{}, refuse("link %d repeats %s admitting %s", i, l.Federation.Short(), l.Member.Short())
		}
		r.Path = append(r.Path, l)
	}
	if err := identity.VerifyDID(r.Admitter(), identity.TagDirectoryRecord, sr.GetRecord(), sr.GetSignature()); err != nil {
		return Record{}, refuse("not signed by the admitting federation %s: %v", r.Admitter().Short(), err)
	}
	return r, nil
}

func decodeLink(sl *icnv1.SignedDirectoryLink, i int) (Link, error) {
	var pl icnv1.DirectoryLink
	if err := strictUnmarshal(sl.GetLink(), &pl, fmt.Sprintf("link %d", i)); err != nil {
		return Link{}, err
	}
	fed, _, err := identity.ParseDID(pl.GetFederation())
	if err != nil {
		return Link{}, refuse("link %d federation: %v", i, err)
	}
	member, _, err := identity.ParseDID(pl.GetMember())
	if err != nil {
		return Link{}, refuse("link %d member: %v", i, err)
	}
	if fed == member {
		return Link{}, refuse("link %d: %s admits itself", i, fed.Short())
	}
	if err := identity.VerifyDID(fed, identity.TagDirectoryLink, sl.GetLink(), sl.GetSignature()); err != nil {
		return Link{}, refuse("link %d not signed by %s: %v", i, fed.Short(), err)
	}
	return Link{Federation: fed, Member: member, MemberName: pl.GetMemberName(), Seq: pl.GetSeq(),
		Expires: time.Unix(0, pl.GetExpiresAtUnixNano())}, nil
}

// SignedPath is the record's path as signed, for a federation that carries
// it on as the upper part of its members' records.
func (r Record) SignedPath() []*icnv1.SignedDirectoryLink { return r.signedPath }
