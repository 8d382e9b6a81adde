package sqlstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sealedPrefix marks a value encrypted by a sealer; "v1" is the format:
// base64url (unpadded) of a 12-byte random nonce followed by the AES-GCM
// ciphertext and tag.
const sealedPrefix = "enc:v1:"

// sealer encrypts channel secrets with AES-256-GCM. Each value is bound to
// its row and column (as additional data), so an encrypted token copied
// into another channel or column does not decrypt.
type sealer struct{ aead cipher.AEAD }

func newSealer(name string, key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("%s: Options.SecretKey must be 32 bytes, not %d", name, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &sealer{aead: aead}, nil
}

// randRead fills b with random bytes.
func randRead(b []byte) { rand.Read(b) } // never fails: crypto/rand panics instead

func secretAD(channelID, column string) []byte {
	return []byte("chatnotify/channels/" + channelID + "/" + column)
}

// seal returns the stored form of a secret of channel id: encrypted with
// a key, as is without one. Empty values stay empty.
func (s *Store) seal(plain, channelID, column string) string {
	if plain == "" || s.sealer == nil {
		return plain
	}
	a := s.sealer.aead
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	rand.Read(nonce) // never fails: crypto/rand panics instead
	out := a.Seal(nonce, nonce, []byte(plain), secretAD(channelID, column))
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out)
}

// open returns the plain form of a stored secret. Values stored before
// encryption was turned on are returned as they are.
func (s *Store) open(stored, channelID, column string) (string, error) {
	enc, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	if s.sealer == nil {
		return "", errors.New(s.d.Name + ": channel secrets are encrypted at rest but no Options.SecretKey is set")
	}
	bad := errors.New(s.d.Name + ": a channel secret cannot be decrypted: wrong Options.SecretKey, or the stored value was altered")
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	a := s.sealer.aead
	if err != nil || len(raw) < a.NonceSize()+a.Overhead() {
		return "", bad
	}
	plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], secretAD(channelID, column))
	if err != nil {
		return "", bad
	}
	return string(plain), nil
}
