// Package membership owns a co-op's members, invites, applications,
// membership credentials, revocations, and each DID's keys (devices).
//
// Everything lives in buckets of the co-op node's ledger file (list Buckets in
// ledger.Options.Buckets) and every write is a command of the node's state
// machine (coopnode/store: SetMember, RevokeMember, CreateInvite,
// SubmitApplication, ApproveApplication, AddDevice, RevokeDevice, RotateKey,
// EmergencyRevoke, SetRole, RenewCredentials), so it shares the ledger's
// group commit and its feed events ("MemberJoined", "MemberRevoked",
// "DeviceAdded", "DeviceRevoked", "KeyRotated", "KeysRevoked",
// "RolesChanged", "CredentialRenewed") are written in the same transaction
// as the change they report.
//
// Roles change in one place, ChangeRoleTx, for a moderator's SetRole and a
// governance decision alike; credentials are renewed before they expire by
// RenewDue, which the node's scheduler calls (on a replicated co-op, the
// leader's).
//
// Reads that run on every HTTP request (Member, Authorize, CredentialRevoked,
// LoginKeys, Devices, SessionEpoch) are served from an in-memory cache that
// New fills from disk (re-verifying every stored credential against the co-op
// key) and that is updated only after a write has committed (and refilled
// after a snapshot restore).
//
// Each DID's keyring also holds its session epoch (SessionEpoch), raised by
// Revoke and EmergencyRevoke in the transaction that revokes, and numbers its
// devices (Device.Seq) without ever reusing a number, so that the gateway's
// session tokens, which carry both, stay void after a revocation whatever
// happens to the membership or the device records later.
//
// Signed requests (applications, device registration and revocation, key
// rotation, emergency revocation) are decoded strictly: one JSON object, exact
// field names, no unknown, duplicate, missing or null fields, at most 4 KiB.
// Their signature is verified before anything is written, over the exact
// bytes received (identity.SigningInput). Device requests also carry "at",
// which must lie within five minutes of the clock, and each accepted one is
// remembered (SHA-256 of tag and bytes, per DID, for ten minutes) so that a
// repeat fails with ErrReplay.
//
// Every error is one of the exported sentinels, wrapped with context; Code
// maps it to an HTTP status and a wire code.
//
// Authorization of the caller by the HTTP layer (token, role) comes first; the
// store still enforces the rules that are part of membership itself: invites,
// approvals and revocations are made by an active moderator, and the co-op's
// admin (the DID given to Bootstrap, named in the node's config) cannot be
// revoked through the API.
package membership
