package membership

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/icn-coop/icn/coopnode/ledger"
	"github.com/icn-coop/icn/identity"
	icnv1 "github.com/icn-coop/icn/proto/icnv1"
)

// PrimaryDevice is the id of a DID's first device, whose key is the DID's own.
// It exists implicitly for every DID, member or not, until revoked or rotated.
const PrimaryDevice = "primary"

// Device statuses.
const (
	DeviceActive   = "active"
	DeviceRetiring = "retiring" // rotated away; logs in until RetiresAt
	DeviceRevoked  = "revoked"
)

// Limits on a DID's devices.
const (
	// MaxLiveDevices bounds a DID's active and retiring devices.
	MaxLiveDevices = 32
	// MaxDeviceRecords bounds all devices kept per DID; beyond it the
	// longest-revoked ones are forgotten.
	MaxDeviceRecords = 128
)

// Device is one key of a DID.
type Device struct {
	ID        string
	Name      string
	PublicKey ed25519.PublicKey
	Status    string // "active" | "retiring" | "revoked"
	AddedAt   time.Time
	RetiresAt time.Time // retiring devices: end of the grace period
	RevokedAt time.Time
	// Seq is the device's number in its DID's keyring, never given twice
	// (0 for the implicit primary and for devices added before numbers
	// existed). A session token names its device by ID and Seq, so a device
	// forgotten by trim and added again under the same ID does not revive
	// the sessions of the one revoked before it.
	Seq uint64
}

// MarshalJSON writes the key as base64url and times as RFC 3339 (API.md),
// leaving out zero times.
func (d Device) MarshalJSON() ([]byte, error) {
	t := func(x time.Time) string {
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format(time.RFC3339)
	}
	return json.Marshal(struct {
		ID        string `json:"id"`
		Name      string `json:"name,omitempty"`
		PublicKey string `json:"public_key"`
		Status    string `json:"status"`
		AddedAt   string `json:"added_at,omitempty"`
		RetiresAt string `json:"retires_at,omitempty"`
		RevokedAt string `json:"revoked_at,omitempty"`
	}{d.ID, d.Name, identity.B64(d.PublicKey), d.Status, t(d.AddedAt), t(d.RetiresAt), t(d.RevokedAt)})
}

type deviceRec struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	PublicKey []byte    `json:"public_key"`
	Status    string    `json:"status"`
	AddedAt   time.Time `json:"added_at,omitzero"`
	RetiresAt time.Time `json:"retires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Seq       uint64    `json:"seq,omitempty"`
}

type replayRec struct {
	Hash []byte    `json:"h"`
	At   time.Time `json:"at"`
}

// keyringRec is a DID's devices and the state of its sessions. Records in
// the cache are never modified: every write decodes its own copy from disk.
// A keyring, once written, is never deleted, so neither counter below ever
// goes back.
type keyringRec struct {
	Rev     uint64      `json:"rev"`
	Devices []deviceRec `json:"devices"`
	// SessionsValidAfter is the time of the last emergency revoke. Sessions
	// are judged by Epoch; this is kept for the event and for tokens issued
	// before epochs existed (SessionEpoch).
	SessionsValidAfter time.Time `json:"sessions_valid_after,omitzero"`
	// Epoch is the DID's session epoch (SessionEpoch): every revocation of
	// the DID as a whole (Revoke, EmergencyRevoke) raises it by one.
	Epoch uint64 `json:"epoch,omitempty"`
	// DevSeq is the last Seq given to a device of this DID.
	DevSeq uint64      `json:"dev_seq,omitempty"`
	Recent []replayRec `json:"recent,omitempty"` // accepted signed requests
}

func decodeKeyring(v []byte) (*keyringRec, error) {
	var kr keyringRec
	if err := json.Unmarshal(v, &kr); err != nil {
		return nil, err
	}
	for _, d := range kr.Devices {
		if len(d.PublicKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("device %q: bad key", d.ID)
		}
	}
	return &kr, nil
}

// checkedPublicKey refuses a device or rotation key that identity does not
// accept as a key (a small-order point or a non-canonical encoding, under
// which one signature would verify for every request): 400
// invalid_public_key.
func checkedPublicKey(field string, b []byte) (ed25519.PublicKey, error) {
	if err := identity.CheckPublicKey(b); err != nil {
		return nil, fmt.Errorf("%w: %s: %w: %w", ErrBadRequest, field, identity.ErrPublicKey, err)
	}
	return ed25519.PublicKey(b), nil
}

// implicitKeyring is the keyring of a DID that never changed its keys.
func implicitKeyring(did identity.DID) *keyringRec {
	pub, err := did.PublicKey()
	if err != nil {
		return &keyringRec{}
	}
	return &keyringRec{Devices: []deviceRec{{ID: PrimaryDevice, Name: PrimaryDevice, PublicKey: pub, Status: DeviceActive}}}
}

func (kr *keyringRec) find(id string) *deviceRec {
	for i := range kr.Devices {
		if kr.Devices[i].ID == id {
			return &kr.Devices[i]
		}
	}
	return nil
}

// effective returns d as it stands at now: a retiring device past its grace
// period is revoked.
func effective(d deviceRec, now time.Time) deviceRec {
	if d.Status == DeviceRetiring && !d.RetiresAt.After(now) {
		d.Status, d.RevokedAt = DeviceRevoked, d.RetiresAt
	}
	return d
}

func (d deviceRec) public() Device {
	return Device{ID: d.ID, Name: d.Name, PublicKey: bytes.Clone(d.PublicKey), Status: d.Status,
		AddedAt: d.AddedAt, RetiresAt: d.RetiresAt, RevokedAt: d.RevokedAt, Seq: d.Seq}
}

// keyring returns did's keyring from the cache, or its implicit one.
func (s *Store) keyring(did identity.DID) *keyringRec {
	s.mu.RLock()
	kr := s.keyrings[did]
	s.mu.RUnlock()
	if kr == nil {
		return implicitKeyring(did)
	}
	return kr
}

// Devices returns did's devices (revoked ones too) as they stand now.
func (s *Store) Devices(did identity.DID) ([]Device, error) {
	if _, _, err := identity.ParseDID(string(did)); err != nil {
		return nil, fmt.Errorf("devices: %w: %w", ErrBadRequest, err)
	}
	now := s.opts.Clock()
	kr := s.keyring(did)
	out := make([]Device, 0, len(kr.Devices))
	for _, d := range kr.Devices {
		out = append(out, effective(d, now).public())
	}
	return out, nil
}

// Device returns did's device id as it stands now, or ErrNoDevice.
func (s *Store) Device(did identity.DID, id string) (Device, error) {
	if _, _, err := identity.ParseDID(string(did)); err != nil {
		return Device{}, fmt.Errorf("device: %w: %w", ErrBadRequest, err)
	}
	d := s.keyring(did).find(id)
	if d == nil {
		return Device{}, fmt.Errorf("device %.64q of %s: %w", id, did.Short(), ErrNoDevice)
	}
	return effective(*d, s.opts.Clock()).public(), nil
}

// LoginKeys returns the devices whose keys may log in at now: active ones, and
// retiring ones whose RetiresAt is after now. For a DID that never changed its
// keys this is its primary device, so anyone may log in (and apply).
func (s *Store) LoginKeys(did identity.DID, now time.Time) []Device {
	if _, _, err := identity.ParseDID(string(did)); err != nil {
		return nil
	}
	var out []Device
	for _, d := range s.keyring(did).Devices {
		if d := effective(d, now); d.Status == DeviceActive || d.Status == DeviceRetiring {
			out = append(out, d.public())
		}
	}
	return out
}

// SessionsValidAfter returns the time of did's last emergency revoke, or
// zero. It works for non-members too. Session tokens are judged by
// SessionEpoch; this time matters only for tokens that carry no epoch.
func (s *Store) SessionsValidAfter(did identity.DID) time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if kr := s.keyrings[did]; kr != nil {
		return kr.SessionsValidAfter
	}
	return time.Time{}
}

// SessionEpoch returns did's session epoch: 0 until did is first revoked,
// then one more with each revocation of its membership (Revoke) and each
// emergency revoke, in the same transaction as the revocation; it never goes
// back, whatever happens to the membership later (a re-admission keeps it).
// A session token records the epoch at login and is valid only while the
// epoch is unchanged. It works for non-members too and reads only memory.
func (s *Store) SessionEpoch(did identity.DID) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if kr := s.keyrings[did]; kr != nil {
		return kr.Epoch
	}
	return 0
}

// loadKeyring reads did's keyring inside tx, or its implicit one.
func loadKeyring(tx *ledger.Tx, did identity.DID) (*keyringRec, error) {
	v := tx.Bucket(bktKeyrings).Get([]byte(did))
	if v == nil {
		return implicitKeyring(did), nil
	}
	kr, err := decodeKeyring(v)
	if err != nil {
		return nil, fmt.Errorf("keyring of %s: %w", did.Short(), err)
	}
	return kr, nil
}

// newDevice returns a device record numbered with the keyring's next Seq.
func (kr *keyringRec) newDevice(id, name string, pub ed25519.PublicKey, now time.Time) deviceRec {
	kr.DevSeq++
	return deviceRec{ID: id, Name: name, PublicKey: pub, Status: DeviceActive, AddedAt: now, Seq: kr.DevSeq}
}

// signed is a device request that passed the checks made before the write.
type signed struct {
	did      identity.DID
	signedBy string
	pub      ed25519.PublicKey // the signer's key as verified
	hash     []byte            // SHA-256 of tag || 0x0A || request
	at, now  time.Time
}

// verifySigned checks a signed device request against the cached keyring:
// the body's did is the did argument, at is fresh, signedBy names a device of
// did, sig verifies with its key for tag, the request is not a replay
// (ErrReplay), and the device is active (ErrDeviceInactive).
func (s *Store) verifySigned(did identity.DID, bodyDID string, tag identity.Tag, request, sig []byte, signedBy, at string) (*signed, error) {
	if _, _, err := identity.ParseDID(string(did)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if bodyDID != string(did) {
		return nil, fmt.Errorf("%w: the request is for another DID", ErrForbidden)
	}
	if err := checkDeviceID("signed_by", signedBy); err != nil {
		return nil, err
	}
	now := s.opts.Clock()
	t, err := parseAt(at, now)
	if err != nil {
		return nil, err
	}
	kr := s.keyring(did)
	d := kr.find(signedBy)
	if d == nil {
		return nil, fmt.Errorf("%w: signed_by %q names no device of %s", ErrBadSignature, signedBy, did.Short())
	}
	if err := identity.Verify(d.PublicKey, tag, request, sig); err != nil {
		return nil, err
	}
	h := sha256.Sum256(identity.SigningInput(tag, request))
	// A replay before the signer's status: a request that retires or revokes
	// its own signer (a rotation, a device revoking itself) would otherwise
	// never be answered as the replay it is.
	if kr.accepted(h[:]) {
		return nil, ErrReplay
	}
	if e := effective(*d, now); e.Status != DeviceActive {
		return nil, fmt.Errorf("%w: device %q is %s", ErrDeviceInactive, signedBy, e.Status)
	}
	return &signed{did: did, signedBy: signedBy, pub: d.PublicKey, hash: h[:], at: t, now: now}, nil
}

func (sg *signed) proto() *icnv1.SignedRequest {
	return &icnv1.SignedRequest{Did: string(sg.did), SignedBy: sg.signedBy, SignerKey: sg.pub, Hash: sg.hash, AtUnixNano: sg.at.UnixNano()}
}

// signedOf is the signed request a command carries, judged at now.
func signedOf(r *icnv1.SignedRequest, now time.Time) *signed {
	return &signed{did: identity.DID(r.GetDid()), signedBy: r.GetSignedBy(), pub: r.GetSignerKey(), hash: r.GetHash(),
		at: time.Unix(0, r.GetAtUnixNano()).UTC(), now: now}
}

// accepted reports whether a request with this hash is among the recently accepted ones.
func (kr *keyringRec) accepted(hash []byte) bool {
	for _, r := range kr.Recent {
		if bytes.Equal(r.Hash, hash) {
			return true
		}
	}
	return false
}

// begin loads the keyring inside tx (pruned and with retired devices marked
// revoked), re-checks the signer against it and refuses a replay.
func (sg *signed) begin(tx *ledger.Tx) (*keyringRec, error) {
	kr, err := loadKeyring(tx, sg.did)
	if err != nil {
		return nil, err
	}
	for i := range kr.Devices {
		kr.Devices[i] = effective(kr.Devices[i], sg.now)
	}
	cut := sg.now.Add(-ReplayWindow)
	kr.Recent = slices.DeleteFunc(kr.Recent, func(r replayRec) bool { return r.At.Before(cut) })
	d := kr.find(sg.signedBy)
	if d == nil || !bytes.Equal(d.PublicKey, sg.pub) {
		return nil, fmt.Errorf("%w: signed_by %q names no device of %s", ErrBadSignature, sg.signedBy, sg.did.Short())
	}
	if kr.accepted(sg.hash) {
		return nil, ErrReplay
	}
	if d.Status != DeviceActive {
		return nil, fmt.Errorf("%w: device %q is %s", ErrDeviceInactive, sg.signedBy, d.Status)
	}
	return kr, nil
}

// finish records the request as accepted and writes kr.
func (sg *signed) finish(tx *ledger.Tx, kr *keyringRec) error {
	kr.Recent = append(kr.Recent, replayRec{Hash: sg.hash, At: sg.at})
	kr.Rev++
	return tx.Bucket(bktKeyrings).PutJSON([]byte(sg.did), kr)
}

// keyInUse reports whether pub is, or was, the key of one of kr's devices.
// canAdd says why a device with this id and key may not join the keyring, if it may not.
func (kr *keyringRec) canAdd(id string, pub ed25519.PublicKey) error {
	if kr.find(id) != nil {
		return fmt.Errorf("%w: device %q exists", ErrConflict, id)
	}
	if kr.keyInUse(pub) {
		return fmt.Errorf("%w: this key is or was already one of the DID's devices", ErrConflict)
	}
	if kr.countLive("") >= MaxLiveDevices {
		return fmt.Errorf("%w: at most %d devices; revoke one first", ErrConflict, MaxLiveDevices)
	}
	return nil
}

func (kr *keyringRec) keyInUse(pub ed25519.PublicKey) bool {
	for _, d := range kr.Devices {
		if bytes.Equal(d.PublicKey, pub) {
			return true
		}
	}
	return false
}

func (kr *keyringRec) countLive(except string) int {
	n := 0
	for _, d := range kr.Devices {
		if d.ID != except && d.Status != DeviceRevoked {
			n++
		}
	}
	return n
}

func (kr *keyringRec) countActive(except string) int {
	n := 0
	for _, d := range kr.Devices {
		if d.ID != except && d.Status == DeviceActive {
			n++
		}
	}
	return n
}

// trim forgets the longest-revoked devices beyond MaxDeviceRecords.
func (kr *keyringRec) trim() {
	for len(kr.Devices) > MaxDeviceRecords {
		oldest := -1
		for i, d := range kr.Devices {
			if d.Status == DeviceRevoked && (oldest < 0 || d.RevokedAt.Before(kr.Devices[oldest].RevokedAt)) {
				oldest = i
			}
		}
		if oldest < 0 {
			return
		}
		kr.Devices = slices.Delete(kr.Devices, oldest, oldest+1)
	}
}

type addDeviceJSON struct {
	DID       string `json:"did"`
	Action    string `json:"action"`
	DeviceID  string `json:"device_id"`
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
	SignedBy  string `json:"signed_by"`
	At        string `json:"at"`
}

type deviceEvent struct {
	DID       identity.DID `json:"did"`
	DeviceID  string       `json:"device_id"`
	Name      string       `json:"name,omitempty"`
	PublicKey string       `json:"public_key,omitempty"`
}

// AddDevice registers a new key for did. request is the JSON
// {"did","action":"add","device_id","name","public_key","signed_by","at"}
// exactly as received, signed (identity.TagDevice) by the key of did's active
// device signed_by. device_id (1-64 of [A-Za-z0-9_-]) must be new for did and
// the key never used by did before (ErrConflict). A "DeviceAdded" event goes
// to the member's feed.
func (s *Store) AddDevice(ctx context.Context, did identity.DID, request, signature []byte) (Device, error) {
	var r addDeviceJSON
	if err := decodeStrict(request, &r, "did", "action", "device_id", "name", "public_key", "signed_by", "at"); err != nil {
		return Device{}, fmt.Errorf("add device: %w", err)
	}
	if r.Action != "add" {
		return Device{}, fmt.Errorf("add device: %w: action must be \"add\"", ErrBadRequest)
	}
	if err := checkDeviceID("device_id", r.DeviceID); err != nil {
		return Device{}, fmt.Errorf("add device: %w", err)
	}
	if err := checkName("name", r.Name); err != nil {
		return Device{}, fmt.Errorf("add device: %w", err)
	}
	pub, err := parsePublicKey("public_key", r.PublicKey)
	if err != nil {
		return Device{}, fmt.Errorf("add device: %w", err)
	}
	sg, err := s.verifySigned(did, r.DID, identity.TagDevice, request, signature, r.SignedBy, r.At)
	if err != nil {
		return Device{}, fmt.Errorf("add device: %w", err)
	}
	res, err := s.submit(ctx, sg.now, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_AddDevice{AddDevice: &icnv1.AddDevice{
		Request: sg.proto(), DeviceId: r.DeviceID, Name: r.Name, PublicKey: pub,
	}}})
	if err != nil {
		return Device{}, fmt.Errorf("add device: %w", err)
	}
	return res.(deviceRec).public(), nil
}

func (s *Store) applyAddDevice(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetAddDevice()
	sg, did, pub := signedOf(c.Request, tx.Now()), identity.DID(c.Request.GetDid()), ed25519.PublicKey(c.PublicKey)
	r := addDeviceJSON{DeviceID: c.DeviceId, Name: c.Name}
	var out deviceRec
	kr, err := sg.begin(tx)
	if err != nil {
		return nil, err
	}
	if err := kr.canAdd(r.DeviceID, pub); err != nil {
		return nil, err
	}
	out = kr.newDevice(r.DeviceID, r.Name, pub, sg.now.UTC())
	kr.Devices = append(kr.Devices, out)
	kr.trim()
	if err := sg.finish(tx, kr); err != nil {
		return nil, err
	}
	s.commitAfter(tx, commit{keyring: kr, did: did})
	return out, tx.AppendEvent(ledger.EventSpec{
		Type: EventDeviceAdded, Members: []identity.DID{did},
		Payload: deviceEvent{DID: did, DeviceID: out.ID, Name: out.Name, PublicKey: identity.B64(pub)},
	})
}

type revokeDeviceJSON struct {
	DID      string `json:"did"`
	Action   string `json:"action"`
	DeviceID string `json:"device_id"`
	SignedBy string `json:"signed_by"`
	At       string `json:"at"`
}

// RevokeDevice revokes did's device deviceID. request is the JSON
// {"did","action":"revoke","device_id","signed_by","at"} exactly as received
// (device_id equal to deviceID), signed (identity.TagDevice) by any active
// device of did, the revoked one included. Revoking the last active device is
// refused (ErrLastDevice): a retiring device does not count, since it stops
// working when its grace ends. Revoking a revoked device is a no-op. A
// "DeviceRevoked" event goes to the member's feed.
func (s *Store) RevokeDevice(ctx context.Context, did identity.DID, deviceID string, request, signature []byte) error {
	var r revokeDeviceJSON
	if err := decodeStrict(request, &r, "did", "action", "device_id", "signed_by", "at"); err != nil {
		return fmt.Errorf("revoke device: %w", err)
	}
	if r.Action != "revoke" {
		return fmt.Errorf("revoke device: %w: action must be \"revoke\"", ErrBadRequest)
	}
	if r.DeviceID != deviceID {
		return fmt.Errorf("revoke device: %w: device_id does not match the device named in the path", ErrBadRequest)
	}
	if err := checkDeviceID("device_id", r.DeviceID); err != nil {
		return fmt.Errorf("revoke device: %w", err)
	}
	sg, err := s.verifySigned(did, r.DID, identity.TagDevice, request, signature, r.SignedBy, r.At)
	if err != nil {
		return fmt.Errorf("revoke device: %w", err)
	}
	_, err = s.submit(ctx, sg.now, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_RevokeDevice{RevokeDevice: &icnv1.RevokeDevice{
		Request: sg.proto(), DeviceId: deviceID,
	}}})
	if err != nil {
		return fmt.Errorf("revoke device: %w", err)
	}
	return nil
}

func (s *Store) applyRevokeDevice(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetRevokeDevice()
	sg, did, deviceID := signedOf(c.Request, tx.Now()), identity.DID(c.Request.GetDid()), c.DeviceId
	kr, err := sg.begin(tx)
	if err != nil {
		return nil, err
	}
	d := kr.find(deviceID)
	if d == nil {
		return nil, fmt.Errorf("%q: %w", deviceID, ErrNoDevice)
	}
	if d.Status == DeviceRevoked {
		return nil, nil
	}
	if kr.countActive(deviceID) == 0 {
		return nil, fmt.Errorf("%q: %w", deviceID, ErrLastDevice)
	}
	d.Status, d.RevokedAt = DeviceRevoked, sg.now.UTC()
	if err := sg.finish(tx, kr); err != nil {
		return nil, err
	}
	s.commitAfter(tx, commit{keyring: kr, did: did})
	return nil, tx.AppendEvent(ledger.EventSpec{
		Type: EventDeviceRevoked, Members: []identity.DID{did},
		Payload: deviceEvent{DID: did, DeviceID: deviceID},
	})
}

type rotateJSON struct {
	DID          string `json:"did"`
	NewPublicKey string `json:"new_public_key"`
	NewDeviceID  string `json:"new_device_id"`
	GraceSeconds int64  `json:"grace_seconds"`
	SignedBy     string `json:"signed_by"`
	At           string `json:"at"`
}

type keyRotated struct {
	DID          identity.DID `json:"did"`
	OldDeviceID  string       `json:"old_device_id"`
	NewDeviceID  string       `json:"new_device_id"`
	NewPublicKey string       `json:"new_public_key"`
	RetiresAt    time.Time    `json:"retires_at"`
}

// Rotate replaces the key of did's active device signed_by with a new one.
// request is the JSON
// {"did","new_public_key","new_device_id","grace_seconds","signed_by","at"}
// exactly as received, signed (identity.TagKeyRotation) by signed_by. The
// signer becomes "retiring" until now + grace_seconds (0..MaxGrace; with 0
// it stops logging in at once) and the new key becomes an active device named
// like the old one. A "KeyRotated" event goes to the member's feed.
func (s *Store) Rotate(ctx context.Context, did identity.DID, request, signature []byte) (Device, error) {
	var r rotateJSON
	if err := decodeStrict(request, &r, "did", "new_public_key", "new_device_id", "grace_seconds", "signed_by", "at"); err != nil {
		return Device{}, fmt.Errorf("rotate: %w", err)
	}
	if err := checkDeviceID("new_device_id", r.NewDeviceID); err != nil {
		return Device{}, fmt.Errorf("rotate: %w", err)
	}
	pub, err := parsePublicKey("new_public_key", r.NewPublicKey)
	if err != nil {
		return Device{}, fmt.Errorf("rotate: %w", err)
	}
	if r.GraceSeconds < 0 || r.GraceSeconds > int64(s.opts.MaxGrace/time.Second) {
		return Device{}, fmt.Errorf("rotate: %w: grace_seconds must be 0 to %d", ErrBadRequest, int64(s.opts.MaxGrace/time.Second))
	}
	sg, err := s.verifySigned(did, r.DID, identity.TagKeyRotation, request, signature, r.SignedBy, r.At)
	if err != nil {
		return Device{}, fmt.Errorf("rotate: %w", err)
	}
	res, err := s.submit(ctx, sg.now, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_RotateKey{RotateKey: &icnv1.RotateKey{
		Request: sg.proto(), NewDeviceId: r.NewDeviceID, NewPublicKey: pub, GraceSeconds: r.GraceSeconds,
	}}})
	if err != nil {
		return Device{}, fmt.Errorf("rotate: %w", err)
	}
	return res.(deviceRec).public(), nil
}

func (s *Store) applyRotate(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetRotateKey()
	sg, did, pub := signedOf(c.Request, tx.Now()), identity.DID(c.Request.GetDid()), ed25519.PublicKey(c.NewPublicKey)
	r := rotateJSON{NewDeviceID: c.NewDeviceId, SignedBy: sg.signedBy}
	grace := time.Duration(c.GraceSeconds) * time.Second
	var out deviceRec
	kr, err := sg.begin(tx)
	if err != nil {
		return nil, err
	}
	if err := kr.canAdd(r.NewDeviceID, pub); err != nil {
		return nil, err
	}
	old := kr.find(r.SignedBy)
	now := sg.now.UTC()
	old.Status, old.RetiresAt = DeviceRetiring, now.Add(grace)
	*old = effective(*old, now) // grace 0: revoked at once
	out = kr.newDevice(r.NewDeviceID, old.Name, pub, now)
	ev := keyRotated{DID: did, OldDeviceID: old.ID, NewDeviceID: out.ID, NewPublicKey: identity.B64(pub), RetiresAt: old.RetiresAt}
	kr.Devices = append(kr.Devices, out)
	kr.trim()
	if err := sg.finish(tx, kr); err != nil {
		return nil, err
	}
	s.commitAfter(tx, commit{keyring: kr, did: did})
	return out, tx.AppendEvent(ledger.EventSpec{Type: EventKeyRotated, Members: []identity.DID{did}, Payload: ev})
}

type emergencyJSON struct {
	DID        string `json:"did"`
	KeepDevice string `json:"keep_device"`
	At         string `json:"at"`
}

type keysRevoked struct {
	DID                identity.DID `json:"did"`
	KeptDevice         string       `json:"kept_device"`
	Revoked            []string     `json:"revoked"`
	SessionsValidAfter time.Time    `json:"sessions_valid_after"`
}

// EmergencyRevoke revokes every device of did but keep_device at once and
// voids every session token issued before it (SessionEpoch rises by one;
// SessionsValidAfter is set to now). request
// is the JSON {"did","keep_device","at"} exactly as received, signed
// (identity.TagEmergencyRevoke) by keep_device, which must be active. A
// "KeysRevoked" event goes to the member's feed.
func (s *Store) EmergencyRevoke(ctx context.Context, did identity.DID, request, signature []byte) error {
	var r emergencyJSON
	if err := decodeStrict(request, &r, "did", "keep_device", "at"); err != nil {
		return fmt.Errorf("emergency revoke: %w", err)
	}
	sg, err := s.verifySigned(did, r.DID, identity.TagEmergencyRevoke, request, signature, r.KeepDevice, r.At)
	if err != nil {
		return fmt.Errorf("emergency revoke: %w", err)
	}
	_, err = s.submit(ctx, sg.now, &icnv1.CoopCommand{Kind: &icnv1.CoopCommand_EmergencyRevoke{EmergencyRevoke: &icnv1.EmergencyRevoke{
		Request: sg.proto(), KeepDevice: r.KeepDevice,
	}}})
	if err != nil {
		return fmt.Errorf("emergency revoke: %w", err)
	}
	return nil
}

func (s *Store) applyEmergencyRevoke(tx *ledger.Tx, cmd *icnv1.CoopCommand) (any, error) {
	c := cmd.GetEmergencyRevoke()
	sg, did := signedOf(c.Request, tx.Now()), identity.DID(c.Request.GetDid())
	r := emergencyJSON{KeepDevice: c.KeepDevice}
	kr, err := sg.begin(tx)
	if err != nil {
		return nil, err
	}
	now := sg.now.UTC()
	ev := keysRevoked{DID: did, KeptDevice: r.KeepDevice, Revoked: []string{}, SessionsValidAfter: now}
	for i := range kr.Devices {
		d := &kr.Devices[i]
		if d.ID != r.KeepDevice && d.Status != DeviceRevoked {
			d.Status, d.RevokedAt = DeviceRevoked, now
			ev.Revoked = append(ev.Revoked, d.ID)
		}
	}
	kr.SessionsValidAfter = now
	kr.Epoch++
	if err := sg.finish(tx, kr); err != nil {
		return nil, err
	}
	s.commitAfter(tx, commit{keyring: kr, did: did})
	return nil, tx.AppendEvent(ledger.EventSpec{Type: EventKeysRevoked, Members: []identity.DID{did}, Payload: ev})
}
