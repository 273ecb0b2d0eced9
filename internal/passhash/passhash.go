// Package passhash hashes and checks the secrets people type into parkd:
// board passwords and API tokens (and, later, pick-up PINs). New hashes are
// argon2id in the PHC string form; bcrypt hashes made elsewhere are
// accepted too. A secret is never kept or logged, only its hash.
package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// The argon2id parameters of new hashes: OWASP's first recommended set
// (19 MiB, 2 passes, 1 lane), about 30 ms on one core.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// Limits on the parameters of a hash read from a configuration file, so a
// hostile or mistyped hash cannot make a login take minutes or gigabytes.
const (
	maxArgonMemory = 1024 * 1024 // KiB: 1 GiB
	maxArgonTime   = 16
	maxBcryptCost  = 14
)

// MaxSecretLen bounds a secret: bcrypt reads only 72 bytes, and nobody
// types more than this.
const MaxSecretLen = 128

// ErrMalformed is a hash parkd cannot read.
var ErrMalformed = errors.New("not an argon2id or bcrypt hash")

// Hash returns the argon2id hash of secret in the PHC string form:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func Hash(secret string) (string, error) {
	if secret == "" || len(secret) > MaxSecretLen {
		return "", fmt.Errorf("passhash: a secret is 1 to %d bytes", MaxSecretLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passhash: salt: %w", err)
	}
	key := argon2.IDKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Check reports whether secret matches hash, comparing in constant time. It
// returns ErrMalformed (wrapped) for a hash it cannot read.
func Check(hash, secret string) (bool, error) {
	if len(secret) > MaxSecretLen {
		return false, nil
	}
	if isBcrypt(hash) {
		if !Valid(hash) {
			return false, fmt.Errorf("passhash: %w", ErrMalformed)
		}
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret))
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		}
		return false, fmt.Errorf("passhash: %w", ErrMalformed)
	}
	p, err := parseArgon(hash)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(secret), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

// Valid reports whether hash is one Check can read: for checking a
// configuration file before anyone logs in.
func Valid(hash string) bool {
	if isBcrypt(hash) {
		cost, err := bcrypt.Cost([]byte(hash))
		return err == nil && cost <= maxBcryptCost && len(hash) == 60
	}
	_, err := parseArgon(hash)
	return err == nil
}

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

type argonParams struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon reads $argon2id$v=19$m=M,t=T,p=P$salt$key.
func parseArgon(hash string) (argonParams, error) {
	bad := fmt.Errorf("passhash: %w", ErrMalformed)
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return argonParams{}, bad
	}
	var p argonParams
	for _, kv := range strings.Split(parts[3], ",") {
		name, value, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(value, 10, 32)
		if !ok || err != nil || n == 0 {
			return argonParams{}, bad
		}
		switch name {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return argonParams{}, bad
			}
			p.threads = uint8(n)
		default:
			return argonParams{}, bad
		}
	}
	if p.memory == 0 || p.time == 0 || p.threads == 0 || p.memory > maxArgonMemory || p.time > maxArgonTime ||
		p.memory < 8*uint32(p.threads) {
		return argonParams{}, bad
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return argonParams{}, bad
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return argonParams{}, bad
	}
	return p, nil
}
