package passhash

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Ensure a hash checks its own secret and no other, and is salted.
func TestHashCheck(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || !Valid(h) {
		t.Fatalf("hash %q", h)
	}
	for secret, want := range map[string]bool{"correct horse": true, "correct hors": false, "": false, "Correct horse": false} {
		if ok, err := Check(h, secret); err != nil || ok != want {
			t.Errorf("Check(%q) = %v, %v; want %v", secret, ok, err, want)
		}
	}
	if h2, _ := Hash("correct horse"); h2 == h {
		t.Fatal("two hashes of one secret are equal: no salt")
	}
	for _, s := range []string{"", strings.Repeat("x", MaxSecretLen+1)} {
		if _, err := Hash(s); err == nil {
			t.Errorf("Hash of a %d-byte secret succeeded", len(s))
		}
	}
}

// Ensure bcrypt hashes made by other tools are accepted.
func TestCheckBcrypt(t *testing.T) {
	b, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if !Valid(string(b)) {
		t.Fatal("bcrypt hash not valid")
	}
	if ok, err := Check(string(b), "s3cret"); !ok || err != nil {
		t.Fatalf("Check = %v, %v", ok, err)
	}
	if ok, err := Check(string(b), "other"); ok || err != nil {
		t.Fatalf("Check(other) = %v, %v", ok, err)
	}
}

// Ensure hashes parkd cannot read, or whose parameters would make a login
// cost minutes or gigabytes, are refused.
func TestMalformed(t *testing.T) {
	good, _ := Hash("x")
	parts := strings.Split(good, "$")
	for _, h := range []string{
		"", "plaintext", "$argon2i$v=19$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=18$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=4194304,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=999,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=0$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$!!$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$",
		"$2b$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
	} {
		if Valid(h) {
			t.Errorf("Valid(%q)", h)
		}
		if _, err := Check(h, "x"); !errors.Is(err, ErrMalformed) {
			t.Errorf("Check(%q): %v, want ErrMalformed", h, err)
		}
	}
}

// FuzzCheck: no hash string makes Check panic or accept a wrong secret.
func FuzzCheck(f *testing.F) {
	good, _ := Hash("x")
	f.Add(good, "x")
	f.Add("$2b$04$abcdefghijklmnopqrstuu", "y")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Fuzz(func(t *testing.T, hash, secret string) {
		ok, err := Check(hash, secret)
		if ok && err != nil {
			t.Fatal("ok with an error")
		}
		if err == nil && !Valid(hash) && len(secret) <= MaxSecretLen {
			t.Fatalf("Check read %q but Valid refuses it", hash)
		}
	})
}
