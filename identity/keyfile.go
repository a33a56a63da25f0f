package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// KeyFile is the on-disk and import/export form of a key (API.md "Key files").
type KeyFile struct {
	DID       DID    `json:"did"`
	PublicKey string `json:"public_key"`
	Seed      string `json:"seed"`
}

// MarshalKey returns the key-file JSON of k.
func MarshalKey(k *Key) []byte {
	b, _ := json.MarshalIndent(KeyFile{DID: k.did, PublicKey: B64(k.Public()), Seed: B64(k.Seed())}, "", "  ")
	return append(b, '\n')
}

// UnmarshalKey parses key-file JSON and checks that did, public key and seed agree.
func UnmarshalKey(data []byte) (*Key, error) {
	var kf KeyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrKeyFile)
	}
	// The seed decides the key, and a seed always gives a sound one; a
	// refused did or public_key is said so rather than "does not match".
	if _, _, err := ParseDID(string(kf.DID)); err != nil {
		return nil, fmt.Errorf("%w: did: %w", ErrKeyFile, err)
	}
	if pub, err := DecodeB64(kf.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: public_key: %w", ErrKeyFile, err)
	} else if err := CheckPublicKey(pub); err != nil {
		return nil, fmt.Errorf("%w: public_key: %w", ErrKeyFile, err)
	}
	seed, err := DecodeB64(kf.Seed)
	if err != nil {
		return nil, fmt.Errorf("%w: seed: %w", ErrKeyFile, err)
	}
	k, err := KeyFromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: seed: %w", ErrKeyFile, err)
	}
	if kf.PublicKey != B64(k.Public()) {
		return nil, fmt.Errorf("%w: public_key does not match seed", ErrKeyFile)
	}
	if kf.DID != k.did {
		return nil, fmt.Errorf("%w: did does not match seed", ErrKeyFile)
	}
	return k, nil
}
